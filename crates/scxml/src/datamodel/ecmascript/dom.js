// A minimal, read-mostly W3C DOM for XML values of the ECMAScript data model
// (SCXML 1.0 App. B.2). Evaluated once per session, the first time XML is
// converted; the completion value is the object the Rust side keeps.
//
// The Rust side parses the XML and passes a tree: an element is
// [qualifiedName, namespaceURI, [attrName, attrValue, ...], ...children],
// a text node is a string.
(() => {
  'use strict';

  const ELEMENT_NODE = 1, TEXT_NODE = 3, DOCUMENT_NODE = 9;

  class Node {
    get firstChild() { return this.childNodes[0] || null; }
    get lastChild() { const c = this.childNodes; return c.length ? c[c.length - 1] : null; }
    get previousSibling() { return sibling(this, -1); }
    get nextSibling() { return sibling(this, 1); }
    get children() { return this.childNodes.filter((n) => n.nodeType === ELEMENT_NODE); }
    get childElementCount() { return this.children.length; }
    get firstElementChild() { return this.children[0] || null; }
    get lastElementChild() { const c = this.children; return c.length ? c[c.length - 1] : null; }
    get textContent() {
      let out = '';
      for (const c of this.childNodes) out += c.textContent;
      return out;
    }
    set textContent(value) {
      for (const c of this.childNodes) c.parentNode = null;
      this.childNodes = [];
      if (value !== '' && value != null) this.appendChild(new Text(String(value)));
    }
    get nodeValue() { return null; }
    hasChildNodes() { return this.childNodes.length > 0; }
    appendChild(child) {
      if (!(child instanceof Node)) throw new TypeError('appendChild: not a node');
      if (child.parentNode) child.parentNode.removeChild(child);
      child.parentNode = this;
      this.childNodes.push(child);
      return child;
    }
    removeChild(child) {
      const i = this.childNodes.indexOf(child);
      if (i < 0) throw new Error('removeChild: not a child of this node');
      this.childNodes.splice(i, 1);
      child.parentNode = null;
      return child;
    }
    getElementsByTagName(name) {
      return collect(this, (e) => name === '*' || e.tagName === name);
    }
    getElementsByTagNameNS(ns, local) {
      return collect(this, (e) => (ns === '*' || e.namespaceURI === ns) && (local === '*' || e.localName === local));
    }
    toString() { return serialize(this); }
  }

  class Element extends Node {
    constructor(name, ns) {
      super();
      const colon = name.indexOf(':');
      this.nodeType = ELEMENT_NODE;
      this.tagName = this.nodeName = name;
      this.prefix = colon < 0 ? null : name.slice(0, colon);
      this.localName = colon < 0 ? name : name.slice(colon + 1);
      this.namespaceURI = ns || null;
      this.attributes = [];
      this.childNodes = [];
      this.parentNode = null;
    }
    getAttribute(name) { const a = this.getAttributeNode(name); return a ? a.value : null; }
    getAttributeNode(name) { return this.attributes.find((a) => a.name === name) || null; }
    hasAttribute(name) { return this.getAttributeNode(name) !== null; }
    hasAttributes() { return this.attributes.length > 0; }
    setAttribute(name, value) {
      const a = this.getAttributeNode(name);
      if (a) a.value = String(value);
      else this.attributes.push({ name, localName: name, value: String(value), nodeType: 2 });
    }
    removeAttribute(name) {
      const i = this.attributes.findIndex((a) => a.name === name);
      if (i >= 0) this.attributes.splice(i, 1);
    }
  }

  class Text extends Node {
    constructor(data) {
      super();
      this.nodeType = TEXT_NODE;
      this.nodeName = '#text';
      this.data = data;
      this.childNodes = [];
      this.parentNode = null;
    }
    get nodeValue() { return this.data; }
    get textContent() { return this.data; }
    set textContent(value) { this.data = String(value); }
    get length() { return this.data.length; }
  }

  class Document extends Node {
    constructor() {
      super();
      this.nodeType = DOCUMENT_NODE;
      this.nodeName = '#document';
      this.childNodes = [];
      this.parentNode = null;
    }
    get documentElement() { return this.firstElementChild; }
    get textContent() { return null; }
    createElement(name) { return new Element(String(name), null); }
    createElementNS(ns, name) { return new Element(String(name), ns); }
    createTextNode(data) { return new Text(String(data)); }
  }

  function sibling(node, step) {
    const parent = node.parentNode;
    if (!parent) return null;
    return parent.childNodes[parent.childNodes.indexOf(node) + step] || null;
  }

  function collect(root, test) {
    const out = [];
    const walk = (node) => {
      for (const c of node.childNodes) {
        if (c.nodeType === ELEMENT_NODE) {
          if (test(c)) out.push(c);
          walk(c);
        }
      }
    };
    walk(root);
    return out;
  }

  function build(tree, parent) {
    if (typeof tree === 'string') return parent.appendChild(new Text(tree));
    const e = parent.appendChild(new Element(tree[0], tree[1]));
    const attrs = tree[2];
    for (let i = 0; i < attrs.length; i += 2) e.setAttribute(attrs[i], attrs[i + 1]);
    for (let i = 3; i < tree.length; i++) build(tree[i], e);
    return e;
  }

  function escape(s, attr) {
    s = s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    return attr ? s.replace(/"/g, '&quot;') : s;
  }

  // Writes namespace declarations where an element's namespace is not the
  // one in scope, so a serialized fragment parses back to the same names.
  function write(node, scope) {
    if (node.nodeType === TEXT_NODE) return escape(node.data, false);
    if (node.nodeType === DOCUMENT_NODE) return node.childNodes.map((c) => write(c, scope)).join('');
    let out = '<' + node.tagName;
    const key = node.prefix === null ? '' : node.prefix;
    const ns = node.namespaceURI || '';
    let inner = scope;
    if (key !== 'xml' && (scope[key] || '') !== ns && !node.hasAttribute(key ? 'xmlns:' + key : 'xmlns')) {
      out += (key ? ' xmlns:' + key : ' xmlns') + '="' + escape(ns, true) + '"';
      inner = Object.assign(Object.create(null), scope, { [key]: ns });
    }
    for (const a of node.attributes) out += ' ' + a.name + '="' + escape(a.value, true) + '"';
    if (!node.childNodes.length) return out + '/>';
    return out + '>' + node.childNodes.map((c) => write(c, inner)).join('') + '</' + node.tagName + '>';
  }

  function serialize(node) { return write(node, Object.create(null)); }

  return {
    Node,
    build(nodes) {
      const doc = new Document();
      for (const n of nodes) build(n, doc);
      return doc;
    },
    serialize,
  };
})()
