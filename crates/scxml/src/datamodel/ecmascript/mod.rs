//! The ECMAScript data model (SCXML 1.0 App. B.2) on QuickJS.
