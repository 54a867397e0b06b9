/**
 * Exact 64-bit integers. A JSON number is a JavaScript `number`, exact only
 * up to `Number.MAX_SAFE_INTEGER` (2^53 - 1): `JSON.parse` rounds
 * `9223372036854775807` (`i64::MAX`) to `9223372036854775808` without a
 * word. Values that need all 64 bits travel as decimal strings instead: the
 * Rust newtypes `duplexrpc_core::int64::{Int64, Uint64}` serialize so and
 * are typed `string` in the generated bindings. These functions convert such
 * strings to and from `bigint`, checking the range.
 *
 * ```ts
 * const id: string = await ledger.lastId(); // Rust: Result<Int64, RpcError>
 * const next = decodeInt64(id) + 1n;
 * await ledger.get(encodeInt64(next));
 * ```
 *
 * @module
 */
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
/** What the Rust newtypes write and read: an optional `-`, then decimal digits. */
const DECIMAL = /^-?[0-9]+$/;
/** An `Int64` (Rust `i64`) on the wire: `value` as a decimal string; throws a `RangeError` outside the i64 range. */
export function encodeInt64(value) {
    return encode(value, INT64_MIN, INT64_MAX, "Int64");
}
/** An `Int64` from the wire: throws a `SyntaxError` if `text` is not a decimal integer, a `RangeError` outside i64. */
export function decodeInt64(text) {
    return decode(text, INT64_MIN, INT64_MAX, "Int64");
}
/** A `Uint64` (Rust `u64`) on the wire: `value` as a decimal string; throws a `RangeError` outside the u64 range. */
export function encodeUint64(value) {
    return encode(value, 0n, UINT64_MAX, "Uint64");
}
/** A `Uint64` from the wire: throws a `SyntaxError` if `text` is not a decimal integer, a `RangeError` outside u64. */
export function decodeUint64(text) {
    return decode(text, 0n, UINT64_MAX, "Uint64");
}
function encode(value, min, max, name) {
    if (typeof value === "number" && !Number.isSafeInteger(value)) {
        // An unsafe number may already have been rounded: refuse rather than send a wrong value.
        throw new RangeError(`${name}: ${value} is not a safe integer; pass a bigint`);
    }
    return checked(BigInt(value), min, max, name).toString();
}
function decode(text, min, max, name) {
    if (!DECIMAL.test(text))
        throw new SyntaxError(`${name}: ${JSON.stringify(text)} is not a decimal integer`);
    return checked(BigInt(text), min, max, name);
}
function checked(value, min, max, name) {
    if (value < min || value > max)
        throw new RangeError(`${name}: ${value} is out of range ${min}..=${max}`);
    return value;
}
