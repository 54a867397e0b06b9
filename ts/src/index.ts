/**
 * `duplexrpc`: bidirectional JSON-RPC 2.0 over WebSocket, the TypeScript
 * end of the Rust `#[rpc]` traits.
 *
 * ```ts
 * import { connect } from "duplexrpc";
 * import { CalculatorClient, registerBrowser } from "./api.js"; // generated
 *
 * const peer = await connect("ws://127.0.0.1:9000/");
 * registerBrowser(peer, { confirm: (q) => window.confirm(q), progress: (pct) => {} });
 * const calc = new CalculatorClient(peer);
 * await calc.add(2, 3); // 5
 * ```
 *
 * @module
 */

export {
  CallAbortedError,
  CallTimeoutError,
  DisconnectedError,
  ErrorCode,
  HandshakeRefusedError,
  RpcError,
  SessionLostError,
  type ErrorObject,
} from "./errors.js";
export { decodeInt64, decodeUint64, encodeInt64, encodeUint64 } from "./int64.js";
export {
  backoffDelay,
  CANCEL_REQUEST,
  connect,
  Peer,
  type AbortSignalLike,
  type CallContext,
  type CallOptions,
  type CloseInfo,
  type ConnectionEvent,
  type ConnectOptions,
  type ReconnectOptions,
  type Handler,
  type PeerOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./peer.js";
export { SESSION_PROTOCOL, type SessionOptions } from "./session.js";
export {
  isAsyncIterable,
  RpcStream,
  STREAM_CANCEL,
  STREAM_CREDIT,
  STREAM_END,
  STREAM_ITEM,
  STREAM_WINDOW,
} from "./stream.js";
export { classify, parseFrame, positionalArgs, type Frame, type Id, type Incoming } from "./wire.js";
