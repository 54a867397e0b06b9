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
/** An `Int64` (Rust `i64`) on the wire: `value` as a decimal string; throws a `RangeError` outside the i64 range. */
export declare function encodeInt64(value: bigint | number): string;
/** An `Int64` from the wire: throws a `SyntaxError` if `text` is not a decimal integer, a `RangeError` outside i64. */
export declare function decodeInt64(text: string): bigint;
/** A `Uint64` (Rust `u64`) on the wire: `value` as a decimal string; throws a `RangeError` outside the u64 range. */
export declare function encodeUint64(value: bigint | number): string;
/** A `Uint64` from the wire: throws a `SyntaxError` if `text` is not a decimal integer, a `RangeError` outside u64. */
export declare function decodeUint64(text: string): bigint;
