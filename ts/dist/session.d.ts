/**
 * Resumable sessions (wire protocol `duplexrpc.session.v1`): the layer below
 * the peer that numbers, acknowledges and replays messages, so that a
 * dropped connection loses nothing.
 *
 * A {@link Session} is transport-agnostic bookkeeping over one socket at a
 * time: the peer {@link Session.start | starts} it on a fresh connection
 * (`#new`), {@link Session.detach | detaches} it when the connection drops,
 * and {@link Session.resume | resumes} it on the next one (`#resume`).
 *
 * @module
 */
/** The WebSocket subprotocol that asks the server for a resumable session. */
export declare const SESSION_PROTOCOL = "duplexrpc.session.v1";
/**
 * Settings of a resumable session (`connect(url, { reconnect, resumable })`).
 * The defaults are the Rust `SessionConfig`'s.
 */
export interface SessionOptions {
    /** Most messages kept for replay (sent, not yet acknowledged). Default 4096. */
    replayMessages?: number;
    /** Most bytes (UTF-8) kept for replay. Default 1 MiB. */
    replayBytes?: number;
    /** Acknowledge after this many received messages. Default 32. */
    ackEvery?: number;
    /** Acknowledge after this many received bytes (UTF-8). Default 64 KiB. */
    ackBytes?: number;
    /** Acknowledge what is unacknowledged after this many ms without another reason to. Default 1000. */
    ackDelay?: number;
    /**
     * The connection counts as frozen (and the session resumes on a new one)
     * when nothing at all arrives for this many ms. Browsers can neither send
     * nor see pings, so this relies on the server sending a frame at least
     * once per keepalive interval: the Rust server sends `#ack` on every
     * keepalive tick (default every 30 s). Keep it above the server's
     * keepalive interval; 0 turns the check off (a frozen connection then
     * lasts until the socket itself fails). A reconnect attempt that has not
     * opened within it is given up as well. Default 40000.
     */
    livenessTimeout?: number;
}
/** What a session needs of a socket. */
export interface SessionSocket {
    send(data: string): void;
}
/** What a session tells its peer. */
export interface SessionEvents {
    /** `#resumed` arrived and the replay went out: the connection carries the session again. */
    resumed(): void;
    /** The session ended for good (`#lost`, window expired, protocol error): everything pending fails. */
    lost(reason: string, protocolError: boolean): void;
    /** Nothing arrived for {@link SessionOptions.livenessTimeout}. */
    frozen(): void;
}
/** The reason of a session whose buffer would overflow while detached. */
export declare const REPLAY_OVERFLOW = "replay buffer overflow";
/**
 * One session: counts the messages received and sent, keeps the sent ones
 * until acknowledged, acknowledges what it receives, and replays on resume.
 */
export declare class Session {
    #private;
    constructor(options: SessionOptions, events: SessionEvents);
    /** Starts the session on a fresh connection: `#new`; messages may follow at once. */
    start(socket: SessionSocket): void;
    /** Asks to resume on a new connection: `#resume`; messages wait for `#resumed`. */
    resume(socket: SessionSocket): void;
    /**
     * The connection dropped. Returns false if the session cannot be resumed
     * (it had not started: no token yet); else its window starts (if it has not
     * already: a failed resume attempt keeps the first drop's deadline).
     */
    detach(): boolean;
    /**
     * Sends `text` (a message) now, or keeps it until there is room or a
     * connection. Returns false when keeping it would overflow the replay
     * buffer while detached: the session is then over (the caller loses it).
     */
    send(text: string): boolean;
    /**
     * A text frame from the current connection: returns it if it is a message
     * for the peer, or undefined if it was a session frame (handled here).
     */
    receive(data: string): string | undefined;
    /** Ends the session for good without telling anyone (the peer closed). */
    dispose(): void;
}
/** {@link SessionOptions.livenessTimeout} as a timer delay (0: no check). */
export declare function livenessTimeout(options: SessionOptions): number;
/** The length of `text` in UTF-8 bytes. */
export declare function utf8Length(text: string): number;
