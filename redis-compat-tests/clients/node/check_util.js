// Shared helpers of the Node.js client checks: strict comparisons that throw a Mismatch naming
// the check, polling for a condition, and the main() wrapper that maps failures to exit codes.
'use strict';

const { isDeepStrictEqual, inspect } = require('node:util');

class Mismatch extends Error {}

function show(v) {
  return inspect(v, { depth: 8, breakLength: Infinity });
}

function eq(what, got, want) {
  if (!isDeepStrictEqual(got, want)) {
    throw new Mismatch(`${what}: expected ${show(want)}, got ${show(got)}`);
  }
}

function check(what, cond, detail) {
  if (!cond) throw new Mismatch(detail === undefined ? what : `${what}: ${detail}`);
}

async function expectError(what, promise, needle) {
  let got;
  try {
    got = await promise;
  } catch (e) {
    check(`${what}: error text`, String(e.message).includes(needle), `${show(needle)} not in ${show(e.message)}`);
    return;
  }
  throw new Mismatch(`${what}: expected an error containing ${show(needle)}, got ${show(got)}`);
}

async function waitUntil(what, pred, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > deadline) throw new Mismatch(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

/** Parses `CLIENT LIST` / `CLIENT INFO` text into one object per line. */
function parseClientList(text) {
  return String(text)
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => Object.fromEntries(l.trim().split(' ').map((kv) => {
      const i = kv.indexOf('=');
      return [kv.slice(0, i), kv.slice(i + 1)];
    })));
}

function idKey(id) {
  return id.split('-').map(BigInt);
}

function idsIncrease(ids) {
  for (let i = 1; i < ids.length; i++) {
    const [a, b] = [idKey(ids[i - 1]), idKey(ids[i])];
    if (!(a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]))) return false;
  }
  return true;
}

/**
 * Runs `body(host, port, state)` from the command line arguments; exits 0 with "ok" or 1 with
 * the step (state.step) and the first mismatch.
 */
function main(lib, body) {
  const [host, portText] = process.argv.slice(2);
  if (!host || !portText) {
    console.error(`usage: node ${process.argv[1]} HOST PORT`);
    process.exit(2);
  }
  const state = { step: 'connect' };
  // A hung server must fail the check, not hang it.
  const watchdog = setTimeout(() => {
    console.error(`FAIL [${lib}] ${state.step}: no progress within 60 s`);
    process.exit(1);
  }, 60000);
  body(host, Number(portText), state).then(
    () => {
      clearTimeout(watchdog);
      console.log(`ok [${lib}] handshake, strings, transactions, stream job queue against ${host}:${portText}`);
      process.exit(0);
    },
    (e) => {
      clearTimeout(watchdog);
      if (e instanceof Mismatch) {
        console.error(`FAIL [${lib}] ${state.step}: ${e.message}`);
      } else {
        console.error(e);
        console.error(`FAIL [${lib}] ${state.step}: unexpected ${e && e.name}: ${e && e.message}`);
      }
      process.exit(1);
    },
  );
}

module.exports = { Mismatch, eq, check, expectError, waitUntil, parseClientList, idsIncrease, main, show };
