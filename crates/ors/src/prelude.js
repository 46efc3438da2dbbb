// ORS built-ins, evaluated once per session as global code when first named.
// Called with (global, config, data ids, state ids); see prelude.rs.
(function (g, cfg, dataIds, stateIds) {
  var effects = [];
  Object.defineProperty(g, '__orca_effects', { value: effects });
  var ident = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
  function src(v, seen) {
    switch (typeof v) {
      case 'undefined': return 'undefined';
      case 'string': return JSON.stringify(v);
      case 'number': return (v === 0 && 1 / v < 0) ? '-0' : String(v);
      case 'boolean': return String(v);
      case 'function': return String(v);
    }
    if (v === null) return 'null';
    if (seen.indexOf(v) >= 0) return '{}';
    if (v instanceof Date) return '(new Date(' + v.getTime() + '))';
    seen.push(v);
    var out;
    if (Array.isArray(v)) {
      out = '[' + v.map(function (x) { return src(x, seen); }).join(', ') + ']';
    } else {
      out = '({' + Object.keys(v).map(function (k) {
        return (ident.test(k) ? k : JSON.stringify(k)) + ':' + src(v[k], seen);
      }).join(', ') + '})';
    }
    seen.pop();
    return out;
  }
  g.uneval = function (v) { return src(v, []); };
  Object.defineProperty(Object.prototype, 'toSource', {
    value: function () { return src(this, []); }, writable: true, configurable: true
  });
  var data = {};
  dataIds.forEach(function (id) {
    Object.defineProperty(data, id, {
      get: function () { return g[id]; },
      set: function (x) { g[id] = x; },
      enumerable: true
    });
  });
  g._data = data;
  g.__GetDocumentURL = function () { return cfg.documentUrl; };
  g.__Log = function (message, label, level) {
    effects.push({ log: String(message),
      label: label === undefined ? undefined : String(label),
      level: level === undefined ? undefined : String(level) });
  };
  g.__Raise = function (name, params) { effects.push({ raise: String(name), data: params }); };
  g.__GetCurrentStates = function () { return stateIds.filter(function (s) { return In(s); }); };

  // Offset in minutes of a zone: 'UTC', 'GMT', 'Z', '+02:00', 'UTC-5',
  // 'GMT+0530', or a name from the configured zone table.
  function offset(tz) {
    if (tz === undefined || tz === null || tz === '') return 0;
    tz = String(tz);
    if (Object.prototype.hasOwnProperty.call(cfg.zones, tz)) return cfg.zones[tz];
    var m = /^(?:UTC|GMT|Z)?(?:([+-])(\d{1,2})(?::?(\d{2}))?)?$/.exec(tz);
    if (!m) throw new RangeError('unknown time zone ' + tz);
    if (!m[1]) return 0;
    var minutes = Number(m[2]) * 60 + Number(m[3] || 0);
    return m[1] === '-' ? -minutes : minutes;
  }
  function shifted(tz) { return new Date(Date.now() + offset(tz) * 60000); }
  function two(n) { return (n < 10 ? '0' : '') + n; }
  var lists = cfg.lists;
  var session = {
    id: g._sessionid,
    tenant: cfg.tenant,
    tenantid: cfg.tenantid,
    server: { url: cfg.serverUrl, name: cfg.serverName, cluster: cfg.cluster },
    day: { Sunday: 0, Monday: 1, Tuesday: 2, Wednesday: 3, Thursday: 4, Friday: 5, Saturday: 6 },
    lookupseq: { StartFromStrategy: -1, StartFromTenant: 0, StartFromRouter: 1, StartFromCDN: 2, StartFromTserver: 3 },
    dayInZone: function (tz) { return shifted(tz).getUTCDay(); },
    dateInZone: function (tz) {
      var d = shifted(tz);
      return d.getUTCFullYear() + '-' + two(d.getUTCMonth() + 1) + '-' + two(d.getUTCDate());
    },
    timeInZone: function (tz) {
      var d = shifted(tz);
      return two(d.getUTCHours()) + ':' + two(d.getUTCMinutes()) + ':' + two(d.getUTCSeconds());
    },
    getListItemValue: function (list, item, key) {
      var l = lists[list];
      if (l === undefined) return undefined;
      var entry = l[item];
      if (entry === undefined) return undefined;
      return key === undefined ? entry : entry[key];
    },
    setTenant: function (t) { session.tenant = String(t); return true; }
  };
  g._genesys = { session: session };
})(globalThis, __CONFIG__, __DATA_IDS__, __STATE_IDS__);
