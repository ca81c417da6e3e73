// node-redis (the `redis` package), used the way applications use it, against a Redis-protocol
// server.
//
//     node node_redis_check.js HOST PORT
//
// Connects with node-redis's default handshake (RESP3: HELLO 3 with SETNAME, CLIENT SETINFO),
// then checks strings, MULTI/EXEC (and WATCH) and a stream job queue with consumer groups:
// XGROUP CREATE MKSTREAM, a producer, consumers on XREADGROUP (one blocked until the producer
// adds a job), XACK, a job left unacknowledged and recovered by another consumer with
// XAUTOCLAIM, XPENDING and XINFO. Every expected value is what redis-server 7.0 answers through
// node-redis: the script must pass against a real redis-server too.
//
// Exits 0 and prints "ok" when every check passed; exits 1 with the first mismatch otherwise.
'use strict';

const { createClient, RESP_TYPES, WatchError, MultiErrorReply } = require('redis');
const { version } = require('redis/package.json');
const { eq, check, expectError, waitUntil, idsIncrease, main } = require('./check_util');

const LIB = `node-redis ${version}`;

async function connect(host, port, name) {
  // Defaults (RESP3) plus a name for CLIENT LIST; no reconnecting, so a dead server fails fast.
  const c = createClient({ socket: { host, port, reconnectStrategy: false }, name });
  c.on('error', () => {}); // errors surface as rejected commands
  await c.connect();
  return c;
}

async function checkHandshake(r) {
  eq('PING', await r.ping(), 'PONG');
  eq('client isReady', r.isReady, true);
  const me = await r.clientInfo();
  eq('CLIENT INFO resp (HELLO 3 accepted)', me.resp, 3);
  eq('CLIENT INFO name (set by HELLO SETNAME)', me.name, 'nr-main');
  const hello = await r.hello();
  eq('HELLO proto', hello.proto, 3);
  check('HELLO has server and version', typeof hello.server === 'string' && typeof hello.version === 'string', JSON.stringify(hello));
  const info = await r.info('server');
  check('INFO server has redis_version', /^redis_version:/m.test(info), info);
  eq('ECHO', await r.echo('hello'), 'hello');
}

async function checkStrings(r, p) {
  const k = `${p}:str`;
  const n = `${p}:n`;
  eq('SET', await r.set(k, 'v1'), 'OK');
  eq('GET', await r.get(k), 'v1');
  eq('SET NX on an existing key', await r.set(k, 'v2', { condition: 'NX' }), null);
  eq('SET XX EX', await r.set(k, 'v2', { condition: 'XX', expiration: { type: 'EX', value: 100 } }), 'OK');
  const ttl = await r.ttl(k);
  check('TTL after SET EX 100', ttl > 0 && ttl <= 100, String(ttl));
  eq('GET after SET XX', await r.get(k), 'v2');
  eq('INCR', await r.incr(n), 1);
  eq('INCRBY', await r.incrBy(n, 41), 42);
  eq('MGET', await r.mGet([k, n, `${p}:missing`]), ['v2', '42', null]);
  const bin = Buffer.from('a\r\nb\x00c\xff', 'latin1');
  eq('binary-safe SET', await r.set(`${p}:bin`, bin), 'OK');
  eq(
    'binary-safe GET',
    await r.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer }).get(`${p}:bin`),
    bin,
  );
  eq('DEL', await r.del([k, n, `${p}:bin`]), 3);
  eq('EXISTS after DEL', await r.exists(k), 0);
  eq('GET of a missing key', await r.get(k), null);
}

async function checkTransactions(r, other, p) {
  const [ka, kb, kc, ks, kw] = ['a', 'b', 'c', 's', 'w'].map((x) => `${p}:tx:${x}`);
  eq(
    'MULTI/EXEC replies',
    await r.multi().set(ka, 'a').incr(kc).incrBy(kc, 10).get(ka).xAdd(ks, '1-1', { f: 'v' }).xLen(ks).exec(),
    ['OK', 1, 11, 'a', '1-1', 1],
  );

  // A command that fails inside EXEC fails alone; the others run (node-redis rejects with a
  // MultiErrorReply that carries every reply).
  let failed;
  try {
    failed = await r.multi().set(kb, 'x').incr(kb).get(kb).exec();
  } catch (e) {
    failed = e;
  }
  check('EXEC with a failing command rejects with MultiErrorReply', failed instanceof MultiErrorReply, String(failed));
  eq('EXEC with a failing command: errorIndexes', failed.errorIndexes, [1]);
  eq('EXEC with a failing command: SET', failed.replies[0], 'OK');
  check('EXEC with a failing command: INCR is an error', /not an integer/.test(failed.replies[1].message), String(failed.replies[1]));
  eq('EXEC with a failing command: GET', failed.replies[2], 'x');

  // WATCH: another client writes the watched key between WATCH and EXEC, so EXEC aborts.
  await r.set(kw, '1');
  eq('WATCH', await r.watch(kw), 'OK');
  const cur = Number(await r.get(kw));
  await other.set(kw, '100');
  let aborted;
  try {
    aborted = await r.multi().set(kw, String(cur + 1)).exec();
  } catch (e) {
    aborted = e;
  }
  check('EXEC after a watched key changed rejects with WatchError', aborted instanceof WatchError, String(aborted));
  eq('WATCH again', await r.watch(kw), 'OK');
  const cur2 = Number(await r.get(kw));
  eq('EXEC of the retry', await r.multi().set(kw, String(cur2 + 1)).exec(), ['OK']);
  eq('WATCH: value', await r.get(kw), '101');
  await r.del([ka, kb, kc, ks, kw]);
}

async function checkStreamQueue(host, port, r, p) {
  const s = `${p}:jobs`;
  const g = 'workers';
  const nJobs = 10;
  const producer = r;
  const [alice, bob, carol, dave] = await Promise.all(
    ['alice', 'bob', 'carol', 'dave'].map((n) => connect(host, port, `nr-${n}`)),
  );

  eq('XGROUP CREATE MKSTREAM', await r.xGroupCreate(s, g, '0', { MKSTREAM: true }), 'OK');
  eq('XLEN of the stream MKSTREAM made', await r.xLen(s), 0);
  await expectError('XGROUP CREATE of an existing group', r.xGroupCreate(s, g, '$'), 'BUSYGROUP');

  const job = (i) => ({ job: String(i), payload: `work-${i}` });
  const ids = [];
  for (let i = 0; i < nJobs; i++) ids.push(await producer.xAdd(s, '*', job(i)));
  check('XADD * IDs increase', idsIncrease(ids), ids.join(' '));
  eq('XLEN after the producer', await r.xLen(s), nJobs);

  const read = (c, consumer, options, start = '>') => c.xReadGroup(g, consumer, { key: s, id: start }, options);
  const entries = (i, j) => [{ name: s, messages: ids.slice(i, j).map((id, k) => ({ id, message: job(i + k) })) }];
  // node-redis gives the field map as an object without a prototype; compare it as a plain one.
  const plain = (reply) => reply && JSON.parse(JSON.stringify(reply));

  eq('alice XREADGROUP COUNT 4 >', plain(await read(alice, 'alice', { COUNT: 4 })), entries(0, 4));
  eq('bob XREADGROUP COUNT 4 >', plain(await read(bob, 'bob', { COUNT: 4 })), entries(4, 8));
  eq('alice XREADGROUP COUNT 4 > (the rest)', plain(await read(alice, 'alice', { COUNT: 4 })), entries(8, 10));
  eq('XREADGROUP > with nothing new', await read(bob, 'bob', { COUNT: 4 }), null);
  eq('XREADGROUP BLOCK 100 > times out', await read(bob, 'bob', { COUNT: 4, BLOCK: 100 }), null);

  // carol blocks for new jobs; the producer adds one once she is blocked.
  let settled = false;
  const blocked = read(carol, 'carol', { COUNT: 10, BLOCK: 15000 }).finally(() => {
    settled = true;
  });
  await waitUntil("carol's XREADGROUP BLOCK to be blocked (CLIENT LIST cmd=xreadgroup)", async () =>
    (await r.clientList()).some((c) => c.name === 'nr-carol' && c.cmd === 'xreadgroup'));
  check('carol returned before the producer added a job', !settled);
  ids.push(await producer.xAdd(s, '*', job(10)));
  eq('carol XREADGROUP BLOCK woken by XADD', plain(await blocked), entries(10, 11));

  // Acknowledge everything but job 3, which alice "crashes" on.
  eq('alice XACK', await alice.xAck(s, g, [0, 1, 2, 8, 9].map((i) => ids[i])), 5);
  eq('bob XACK', await bob.xAck(s, g, ids.slice(4, 8)), 4);
  eq('carol XACK', await carol.xAck(s, g, ids[10]), 1);
  eq('XACK of an acknowledged ID', await bob.xAck(s, g, ids[4]), 0);

  eq('XPENDING summary', plain(await r.xPending(s, g)), {
    pending: 1,
    firstId: ids[3],
    lastId: ids[3],
    consumers: [{ name: 'alice', deliveriesCounter: 1 }],
  });
  let pend = await r.xPendingRange(s, g, '-', '+', 100);
  eq('XPENDING - + 100: entries', pend.length, 1);
  eq('XPENDING: ID, consumer', [pend[0].id, pend[0].consumer], [ids[3], 'alice']);
  eq('XPENDING: delivery count', pend[0].deliveriesCounter, 1);
  eq('XPENDING for bob', await r.xPendingRange(s, g, '-', '+', 100, { consumer: 'bob' }), []);

  // alice re-reads her own pending history (ID 0), as a worker does after a restart.
  eq('alice XREADGROUP 0 (her pending entries)', plain(await read(alice, 'alice', {}, '0')), entries(3, 4));
  pend = await r.xPendingRange(s, g, '-', '+', 100);
  eq('XPENDING delivery count after re-reading', pend[0].deliveriesCounter, 2);

  // dave recovers jobs idle for long enough.
  eq(
    'XAUTOCLAIM with a long min-idle-time claims nothing',
    plain(await dave.xAutoClaim(s, g, 'dave', 3600000, '0-0', { COUNT: 10 })),
    { nextId: '0-0', messages: [], deletedMessages: [] },
  );
  await waitUntil(
    'job 3 to be idle for 50 ms',
    async () => (await r.xPendingRange(s, g, '-', '+', 100))[0].millisecondsSinceLastDelivery >= 50,
  );
  eq(
    'XAUTOCLAIM min-idle-time 50',
    plain(await dave.xAutoClaim(s, g, 'dave', 50, '0-0', { COUNT: 10 })),
    { nextId: '0-0', messages: [{ id: ids[3], message: job(3) }], deletedMessages: [] },
  );
  pend = await r.xPendingRange(s, g, '-', '+', 100);
  eq('XPENDING after XAUTOCLAIM: owner', pend.map((e) => [e.id, e.consumer]), [[ids[3], 'dave']]);
  eq('XPENDING after XAUTOCLAIM: delivery count', pend[0].deliveriesCounter, 3);
  eq("alice's pending history after the claim", plain(await read(alice, 'alice', {}, '0')), [{ name: s, messages: [] }]);
  eq('dave XACK', await dave.xAck(s, g, ids[3]), 1);
  eq('XPENDING summary when all is acknowledged', plain(await r.xPending(s, g)), {
    pending: 0,
    firstId: null,
    lastId: null,
    consumers: null,
  });

  eq('XINFO GROUPS', plain(await r.xInfoGroups(s)), [
    { name: g, consumers: 4, pending: 0, 'last-delivered-id': ids[10], 'entries-read': 11, lag: 0 },
  ]);
  const consumers = plain(await r.xInfoConsumers(s, g));
  eq(
    'XINFO CONSUMERS names and pending counts',
    consumers.map((c) => [c.name, c.pending]),
    [['alice', 0], ['bob', 0], ['carol', 0], ['dave', 0]],
  );
  check('XINFO CONSUMERS has idle', consumers.every((c) => Number.isInteger(c.idle)), JSON.stringify(consumers));
  const info = plain(await r.xInfoStream(s));
  eq('XINFO STREAM length', info.length, 11);
  eq('XINFO STREAM groups', info.groups, 1);
  eq('XINFO STREAM last-generated-id', info['last-generated-id'], ids[10]);
  eq('XINFO STREAM first-entry', info['first-entry'], { id: ids[0], message: job(0) });
  eq('XINFO STREAM last-entry', info['last-entry'], { id: ids[10], message: job(10) });

  eq('DEL the stream', await r.del(s), 1);
  for (const c of [alice, bob, carol, dave]) c.destroy();
}

main(LIB, async (host, port, state) => {
  const prefix = `clients:nr:${process.pid}:${Date.now()}`;
  const r = await connect(host, port, 'nr-main');
  const other = await connect(host, port, 'nr-other');
  state.step = 'handshake';
  await checkHandshake(r);
  state.step = 'strings';
  await checkStrings(r, prefix);
  state.step = 'transactions';
  await checkTransactions(r, other, prefix);
  state.step = 'stream job queue';
  await checkStreamQueue(host, port, r, prefix);
  r.destroy();
  other.destroy();
});
