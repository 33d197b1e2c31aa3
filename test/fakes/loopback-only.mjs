// Loaded with `node --import` into processes a test starts (the LangGraph server): every TCP connection or DNS lookup
// that is not for this machine is refused and reported on stderr as "loopback-only: refused ...", so a test can assert
// that nothing it started tried the network. Unix sockets and pipes (IPC) pass.
import dns from 'node:dns';
import net from 'node:net';

const LOCAL = new Set(['localhost', '127.0.0.1', '::1', '0.0.0.0', '::', '']);

function refuse(what) {
  process.stderr.write(`loopback-only: refused ${what}\n`);
  return new Error(`loopback-only: refused ${what} (tests never touch the network)`);
}

function isLocal(host) {
  return host === undefined || host === null || LOCAL.has(String(host)) || String(host).startsWith('127.');
}

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(...args) {
  const first = args[0];
  let host;
  let isPath = false;
  if (typeof first === 'object' && first !== null && !Array.isArray(first)) {
    host = first.host;
    isPath = typeof first.path === 'string';
  } else if (typeof first === 'string' && Number.isNaN(Number(first))) {
    isPath = true;
  } else {
    host = typeof args[1] === 'string' ? args[1] : undefined;
  }
  if (!isPath && !isLocal(host)) {
    const error = refuse(`a connection to ${host}`);
    process.nextTick(() => this.destroy(error));
    return this;
  }
  return connect.apply(this, args);
};

const lookup = dns.lookup;
dns.lookup = function guardedLookup(hostname, ...rest) {
  if (!isLocal(hostname)) {
    const callback = rest.find((arg) => typeof arg === 'function');
    const error = refuse(`a DNS lookup of ${hostname}`);
    if (callback) process.nextTick(() => callback(error));
    return {};
  }
  return lookup.call(this, hostname, ...rest);
};
const lookupPromise = dns.promises.lookup;
dns.promises.lookup = function guardedLookupPromise(hostname, ...rest) {
  if (!isLocal(hostname)) return Promise.reject(refuse(`a DNS lookup of ${hostname}`));
  return lookupPromise.call(this, hostname, ...rest);
};

// A test asserts this line to know the guard ran in the process it started.
if (process.env.LOOPBACK_ONLY_ANNOUNCE === '1') process.stderr.write(`loopback-only: active in ${process.pid}\n`);
