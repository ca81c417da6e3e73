// ioredis, used the way applications use it, against a Redis-protocol server.
//
//     node ioredis_check.js HOST PORT
//
// Connects with ioredis's default handshake (RESP3: HELLO 3, CLIENT SETINFO, then the INFO ready
// check), then checks strings, MULTI/EXEC (and WATCH) and a stream job queue with consumer
// groups: XGROUP CREATE MKSTREAM, a producer, consumers on XREADGROUP (one blocked until the
// producer adds a job), XACK, a job left unacknowledged and recovered by another consumer with
// XAUTOCLAIM, XPENDING and XINFO. Every expected value is what redis-server 7.0 answers through
// ioredis: the script must pass against a real redis-server too.
//
// Exits 0 and prints "ok" when every check passed; exits 1 with the first mismatch otherwise.
'use strict';

const Redis = require('ioredis');
const { version } = require('ioredis/package.json');
const { eq, check, expectError, waitUntil, parseClientList, idsIncrease, main } = require('./check_util');

const LIB = `ioredis ${version}`;

function connect(host, port, name) {
  // Defaults (protocol 3, ready check, legacy reply mapping) plus a name for CLIENT LIST, and no
  // reconnecting, so a dead server fails the check at once instead of being retried.
  const c = new Redis({ host, port, connectionName: name, retryStrategy: () => null });
  c.on('error', () => {}); // errors surface as rejected commands
  return c;
}

async function checkHandshake(r) {
  eq('PING', await r.ping(), 'PONG');
  eq('connection status after the ready check', r.status, 'ready');
  const me = parseClientList(await r.client('INFO'))[0];
  eq('CLIENT INFO resp (HELLO 3 accepted)', me.resp, '3');
  eq('CLIENT INFO name (set during the handshake)', me.name, 'io-main');
  const hello = await r.hello();
  check('HELLO reply', Array.isArray(hello) && hello.includes('proto'), JSON.stringify(hello));
  eq('HELLO proto', hello[hello.indexOf('proto') + 1], 3);
  const info = await r.info('server');
  check('INFO server has redis_version', /^redis_version:/m.test(info), info);
  eq('ECHO', await r.echo('hello'), 'hello');
}

async function checkStrings(r, p) {
  const k = `${p}:str`;
  const n = `${p}:n`;
  eq('SET', await r.set(k, 'v1'), 'OK');
  eq('GET', await r.get(k), 'v1');
  eq('SET NX on an existing key', await r.set(k, 'v2', 'NX'), null);
  eq('SET XX EX', await r.set(k, 'v2', 'EX', 100, 'XX'), 'OK');
  const ttl = await r.ttl(k);
  check('TTL after SET EX 100', ttl > 0 && ttl <= 100, String(ttl));
  eq('GET after SET XX', await r.get(k), 'v2');
  eq('INCR', await r.incr(n), 1);
  eq('INCRBY', await r.incrby(n, 41), 42);
  eq('MGET', await r.mget(k, n, `${p}:missing`), ['v2', '42', null]);
  eq('binary-safe SET', await r.set(`${p}:bin`, Buffer.from('a\r\nb\x00c\xff', 'latin1')), 'OK');
  eq('binary-safe GET', await r.getBuffer(`${p}:bin`), Buffer.from('a\r\nb\x00c\xff', 'latin1'));
  eq('DEL', await r.del(k, n, `${p}:bin`), 3);
  eq('EXISTS after DEL', await r.exists(k), 0);
  eq('GET of a missing key', await r.get(k), null);
}

async function checkTransactions(r, other, p) {
  const [ka, kb, kc, ks, kw] = ['a', 'b', 'c', 's', 'w'].map((x) => `${p}:tx:${x}`);
  eq(
    'MULTI/EXEC replies',
    await r.multi().set(ka, 'a').incr(kc).incrby(kc, 10).get(ka).xadd(ks, '1-1', 'f', 'v').xlen(ks).exec(),
    [[null, 'OK'], [null, 1], [null, 11], [null, 'a'], [null, '1-1'], [null, 1]],
  );

  // A command that fails inside EXEC fails alone; the others run.
  const res = await r.multi().set(kb, 'x').incr(kb).get(kb).exec();
  eq('EXEC with a failing command: reply count', res.length, 3);
  eq('EXEC with a failing command: SET', res[0], [null, 'OK']);
  check(
    'EXEC with a failing command: INCR is an error',
    res[1][0] instanceof Error && /not an integer/.test(res[1][0].message),
    String(res[1][0]),
  );
  eq('EXEC with a failing command: GET', res[2], [null, 'x']);

  // WATCH: another client writes the watched key between WATCH and EXEC, so EXEC aborts (null).
  await r.set(kw, '1');
  eq('WATCH', await r.watch(kw), 'OK');
  const cur = Number(await r.get(kw));
  await other.set(kw, '100');
  eq('EXEC after a watched key changed', await r.multi().set(kw, String(cur + 1)).exec(), null);
  eq('WATCH again', await r.watch(kw), 'OK');
  const cur2 = Number(await r.get(kw));
  eq('EXEC of the retry', await r.multi().set(kw, String(cur2 + 1)).exec(), [[null, 'OK']]);
  eq('WATCH: value', await r.get(kw), '101');
  await r.del(ka, kb, kc, ks, kw);
}

async function checkStreamQueue(host, port, r, p) {
  const s = `${p}:jobs`;
  const g = 'workers';
  const nJobs = 10;
  const producer = r;
  const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map((n) => connect(host, port, `io-${n}`));

  eq('XGROUP CREATE MKSTREAM', await r.xgroup('CREATE', s, g, '0', 'MKSTREAM'), 'OK');
  eq('XLEN of the stream MKSTREAM made', await r.xlen(s), 0);
  await expectError('XGROUP CREATE of an existing group', r.xgroup('CREATE', s, g, '$'), 'BUSYGROUP');

  const job = (i) => ['job', String(i), 'payload', `work-${i}`];
  const ids = [];
  for (let i = 0; i < nJobs; i++) ids.push(await producer.xadd(s, '*', ...job(i)));
  check('XADD * IDs increase', idsIncrease(ids), ids.join(' '));
  eq('XLEN after the producer', await r.xlen(s), nJobs);

  const read = (c, consumer, { count, block, start = '>' } = {}) => {
    const args = ['GROUP', g, consumer];
    if (count !== undefined) args.push('COUNT', count);
    if (block !== undefined) args.push('BLOCK', block);
    return c.xreadgroup(...args, 'STREAMS', s, start);
  };
  const entries = (i, j) => [[s, ids.slice(i, j).map((id, k) => [id, job(i + k)])]];

  eq('alice XREADGROUP COUNT 4 >', await read(alice, 'alice', { count: 4 }), entries(0, 4));
  eq('bob XREADGROUP COUNT 4 >', await read(bob, 'bob', { count: 4 }), entries(4, 8));
  eq('alice XREADGROUP COUNT 4 > (the rest)', await read(alice, 'alice', { count: 4 }), entries(8, 10));
  eq('XREADGROUP > with nothing new', await read(bob, 'bob', { count: 4 }), null);
  eq('XREADGROUP BLOCK 100 > times out', await read(bob, 'bob', { count: 4, block: 100 }), null);

  // carol blocks for new jobs; the producer adds one once she is blocked.
  let settled = false;
  const blocked = read(carol, 'carol', { count: 10, block: 15000 }).finally(() => {
    settled = true;
  });
  await waitUntil("carol's XREADGROUP BLOCK to be blocked (CLIENT LIST cmd=xreadgroup)", async () =>
    parseClientList(await r.client('LIST')).some((c) => c.name === 'io-carol' && c.cmd === 'xreadgroup'));
  check('carol returned before the producer added a job', !settled);
  ids.push(await producer.xadd(s, '*', ...job(10)));
  eq('carol XREADGROUP BLOCK woken by XADD', await blocked, entries(10, 11));

  // Acknowledge everything but job 3, which alice "crashes" on.
  eq('alice XACK', await alice.xack(s, g, ...[0, 1, 2, 8, 9].map((i) => ids[i])), 5);
  eq('bob XACK', await bob.xack(s, g, ...ids.slice(4, 8)), 4);
  eq('carol XACK', await carol.xack(s, g, ids[10]), 1);
  eq('XACK of an acknowledged ID', await bob.xack(s, g, ids[4]), 0);

  eq('XPENDING summary', await r.xpending(s, g), [1, ids[3], ids[3], [['alice', '1']]]);
  let pend = await r.xpending(s, g, '-', '+', 100);
  eq('XPENDING - + 100: entries', pend.length, 1);
  eq('XPENDING: ID, consumer', [pend[0][0], pend[0][1]], [ids[3], 'alice']);
  eq('XPENDING: delivery count', pend[0][3], 1);
  eq('XPENDING for bob', await r.xpending(s, g, '-', '+', 100, 'bob'), []);

  // alice re-reads her own pending history (ID 0), as a worker does after a restart.
  eq('alice XREADGROUP 0 (her pending entries)', await read(alice, 'alice', { start: '0' }), entries(3, 4));
  pend = await r.xpending(s, g, '-', '+', 100);
  eq('XPENDING delivery count after re-reading', pend[0][3], 2);

  // dave recovers jobs idle for long enough.
  eq(
    'XAUTOCLAIM with a long min-idle-time claims nothing',
    await dave.xautoclaim(s, g, 'dave', 3600000, '0-0', 'COUNT', 10),
    ['0-0', [], []],
  );
  await waitUntil('job 3 to be idle for 50 ms', async () => (await r.xpending(s, g, '-', '+', 100))[0][2] >= 50);
  eq(
    'XAUTOCLAIM min-idle-time 50',
    await dave.xautoclaim(s, g, 'dave', 50, '0-0', 'COUNT', 10),
    ['0-0', [[ids[3], job(3)]], []],
  );
  pend = await r.xpending(s, g, '-', '+', 100);
  eq('XPENDING after XAUTOCLAIM: owner', pend.map((e) => [e[0], e[1]]), [[ids[3], 'dave']]);
  eq('XPENDING after XAUTOCLAIM: delivery count', pend[0][3], 3);
  eq("alice's pending history after the claim", await read(alice, 'alice', { start: '0' }), [[s, []]]);
  eq('dave XACK', await dave.xack(s, g, ids[3]), 1);
  eq('XPENDING summary when all is acknowledged', await r.xpending(s, g), [0, null, null, null]);

  eq('XINFO GROUPS', await r.xinfo('GROUPS', s), [
    ['name', g, 'consumers', 4, 'pending', 0, 'last-delivered-id', ids[10], 'entries-read', 11, 'lag', 0],
  ]);
  const consumers = (await r.xinfo('CONSUMERS', s, g)).map((flat) => {
    const o = {};
    for (let i = 0; i < flat.length; i += 2) o[flat[i]] = flat[i + 1];
    return o;
  });
  eq(
    'XINFO CONSUMERS names and pending counts',
    consumers.map((c) => [c.name, c.pending]),
    [['alice', 0], ['bob', 0], ['carol', 0], ['dave', 0]],
  );
  check('XINFO CONSUMERS has idle', consumers.every((c) => Number.isInteger(c.idle)), JSON.stringify(consumers));
  const flat = await r.xinfo('STREAM', s);
  const info = {};
  for (let i = 0; i < flat.length; i += 2) info[flat[i]] = flat[i + 1];
  eq('XINFO STREAM length', info.length, 11);
  eq('XINFO STREAM groups', info.groups, 1);
  eq('XINFO STREAM last-generated-id', info['last-generated-id'], ids[10]);
  eq('XINFO STREAM first-entry', info['first-entry'], [ids[0], job(0)]);
  eq('XINFO STREAM last-entry', info['last-entry'], [ids[10], job(10)]);

  eq('DEL the stream', await r.del(s), 1);
  for (const c of [alice, bob, carol, dave]) await c.quit();
}

main(LIB, async (host, port, state) => {
  const prefix = `clients:io:${process.pid}:${Date.now()}`;
  const r = connect(host, port, 'io-main');
  const other = connect(host, port, 'io-other');
  state.step = 'handshake';
  await checkHandshake(r);
  state.step = 'strings';
  await checkStrings(r, prefix);
  state.step = 'transactions';
  await checkTransactions(r, other, prefix);
  state.step = 'stream job queue';
  await checkStreamQueue(host, port, r, prefix);
  await r.quit();
  await other.quit();
});
