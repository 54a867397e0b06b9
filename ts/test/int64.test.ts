// Exact 64-bit integers: a JSON number loses bits past 2^53 - 1; the Rust
// newtypes duplexrpc_core::int64::{Int64, Uint64} travel as decimal strings,
// and these helpers turn them into range-checked bigints and back.

import assert from "node:assert/strict";
import { test } from "node:test";

import { decodeInt64, decodeUint64, encodeInt64, encodeUint64 } from "duplexrpc";

const I64_MAX = "9223372036854775807";

test("i64::MAX as a JSON number is rounded; as an Int64 string it is exact", () => {
  assert.notEqual(BigInt(JSON.parse(I64_MAX) as number), 2n ** 63n - 1n, "what the newtype is for");
  // What the Rust side sends for Int64(i64::MAX): `"9223372036854775807"`.
  const wire = JSON.parse(`{"result":"${I64_MAX}"}`) as { result: string };
  assert.equal(decodeInt64(wire.result), 2n ** 63n - 1n);
  assert.equal(JSON.stringify([encodeInt64(2n ** 63n - 1n)]), `["${I64_MAX}"]`);
  assert.equal(decodeInt64("-9223372036854775808"), -(2n ** 63n));
  assert.equal(encodeUint64(2n ** 64n - 1n), "18446744073709551615");
  assert.equal(decodeUint64("18446744073709551615"), 2n ** 64n - 1n);
  assert.equal(encodeInt64(-42), "-42");
});

test("out of range, junk and unsafe numbers are refused, never rounded", () => {
  assert.throws(() => decodeInt64("9223372036854775808"), RangeError);
  assert.throws(() => encodeInt64(2n ** 63n), RangeError);
  assert.throws(() => encodeUint64(-1n), RangeError);
  assert.throws(() => decodeUint64("-1"), RangeError);
  assert.throws(() => decodeInt64("12x"), SyntaxError);
  assert.throws(() => decodeInt64(""), SyntaxError);
  assert.throws(() => decodeInt64("1e3"), SyntaxError);
  assert.throws(() => encodeInt64(2 ** 60), /not a safe integer; pass a bigint/);
  assert.throws(() => encodeInt64(1.5), RangeError);
});
