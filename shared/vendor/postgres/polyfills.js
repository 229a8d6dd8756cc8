// The runtime layer of postgres.js's Cloudflare build (src/, copied unchanged but for the import
// of Stream), written for Deno's own sockets and Web Crypto. Importing postgres.js's Node build
// loads Deno's Node layer for net, tls, crypto, stream, os, fs and perf_hooks; this needs only
// node:buffer and node:events. See README.md.
import { Buffer } from 'node:buffer'
import { EventEmitter } from 'node:events'

const subtle = globalThis.crypto.subtle
const encoder = new TextEncoder()

const bytes = (x) => typeof x === 'string' ? encoder.encode(x) : new Uint8Array(x)

export const crypto = {
  randomBytes: (n) => globalThis.crypto.getRandomValues(Buffer.alloc(n)),
  pbkdf2Sync: async (password, salt, iterations, keylen) =>
    Buffer.from(
      await subtle.deriveBits(
        { name: 'PBKDF2', hash: 'SHA-256', salt: bytes(salt), iterations },
        await subtle.importKey('raw', bytes(password), 'PBKDF2', false, ['deriveBits']),
        keylen * 8
      )
    ),
  createHash: (type) => ({
    update: (x) => ({
      digest: async (encoding) => {
        // MD5 password authentication (old servers): node:crypto, loaded only then.
        if (type === 'md5') return (await import('node:crypto')).createHash('md5').update(x).digest(encoding)
        const digest = Buffer.from(await subtle.digest('SHA-256', bytes(x)))
        return encoding ? digest.toString(encoding) : digest
      }
    })
  }),
  createHmac: (_type, key) => ({
    update: (x) => ({
      digest: async () => {
        const k = await subtle.importKey('raw', bytes(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
        return Buffer.from(await subtle.sign('HMAC', k, bytes(x)))
      }
    })
  })
}

export const performance = globalThis.performance

// Connection settings come from the URL and options; no PG* environment fallbacks (reading the
// environment would need --allow-env for every variable postgres.js looks at).
export const process = { env: {} }

export const os = { userInfo: () => ({ username: 'postgres' }) }

export const fs = {
  readFile() {
    throw new Error('sql.file() is not supported on Deno sockets')
  }
}

function unsupported() {
  throw new Error('COPY and large-object streams are not supported on Deno sockets')
}

export const Stream = { Readable: unsupported, Writable: unsupported, Duplex: unsupported }

const IPv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/

export const net = {
  isIP: (x) => IPv4.test(x) ? 4 : x.includes(':') ? 6 : 0,
  Socket
}

export const tls = {
  // postgres.js has sent SSLRequest over the plain socket and read the server's 'S'.
  connect(options) {
    options.socket.startTls(options)
    return options.socket
  }
}

// Flushes the writes queued in one turn together, at its end (Node's setImmediate would also
// wait for pending I/O; postgres.js only needs the batching).
function setImmediate(fn) {
  const task = { fn }
  queueMicrotask(() => task.fn && task.fn())
  return task
}

// postgres.js also calls it with null (no write pending).
function clearImmediate(task) {
  if (task) task.fn = null
}

export { setImmediate, clearImmediate }

const READ_SIZE = 64 * 1024

/**
 * The part of node:net's Socket that postgres.js uses. Plain connections run on Deno.connect.
 * A TLS connection (sslmode other than disable) runs on node:net and node:tls, loaded only then:
 * Deno's own TLS always verifies the certificate, and `sslmode=require` must not (Supabase's
 * database certificates are signed by Supabase's own CA), exactly as postgres.js's Node build.
 */
function Socket() {
  const socket = Object.assign(new EventEmitter(), {
    readyState: 'closed',
    connect,
    startTls,
    setKeepAlive,
    write,
    end,
    destroy
  })
  let conn = null
  let node = null
  let writing = Promise.resolve()
  return socket

  async function connect(port, host) {
    socket.readyState = 'opening'
    try {
      if (socket.ssl) return await nodeConnect(port, host)
      conn = typeof port === 'string' && host === undefined
        ? await Deno.connect({ transport: 'unix', path: port })
        : await Deno.connect({ hostname: host, port: Number(port) })
      if (socket.destroyed) return conn.close()
      socket.readyState = 'open'
      read()
      socket.emit('connect')
    } catch (err) {
      failed(err)
    }
  }

  async function read() {
    const buffer = new Uint8Array(READ_SIZE)
    try {
      for (let n; (n = await conn.read(buffer)) !== null;) {
        // Copied: postgres.js keeps slices of what it is given, and the buffer is reused.
        socket.emit('data', Buffer.from(buffer.subarray(0, n)))
      }
    } catch (err) {
      return failed(err)
    }
    close()
  }

  async function nodeConnect(port, host) {
    const { default: net } = await import('node:net')
    if (socket.destroyed) return close()
    node = net.connect(port, host)
    forward(node, 'connect')
  }

  async function startTls(options) {
    try {
      const { default: tls } = await import('node:tls')
      node.removeAllListeners()
      node = tls.connect({ ...options, socket: node })
      forward(node, 'secureConnect')
    } catch (err) {
      failed(err)
    }
  }

  function forward(from, ready) {
    from.on(ready, () => {
      socket.readyState = 'open'
      socket.emit(ready)
    })
    from.on('data', (x) => socket.emit('data', x))
    from.on('drain', () => socket.emit('drain'))
    from.on('error', failed)
    from.on('close', close)
  }

  function setKeepAlive(enable, delay) {
    node ? node.setKeepAlive(enable, delay) : conn?.setKeepAlive?.(enable)
  }

  function write(data, callback) {
    if (node) return node.write(data, callback)
    writing = writing.then(async () => {
      for (let i = 0; i < data.length;) i += await conn.write(data.subarray(i))
      callback && callback()
    }).catch(failed)
    return true
  }

  function end(data) {
    if (node) return node.end(data)
    data && write(data)
    writing.then(close)
  }

  function destroy() {
    socket.destroyed = true
    node ? node.destroy() : end()
  }

  function close() {
    if (socket.readyState === 'closed') return
    socket.readyState = 'closed'
    try {
      conn?.close()
    } catch {
      // already closed by the peer
    }
    socket.emit('close')
  }

  function failed(err) {
    if (socket.readyState === 'closed') return
    socket.emit('error', err)
    close()
  }
}
