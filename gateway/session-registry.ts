/**
 * The gateway's live device sessions, one per device identity. Activities wait on it and
 * the health endpoint reports it.
 */
import { EventEmitter } from 'node:events';
import type { Message } from '../protocol/messages.js';
import type { RequestOptions } from '../protocol/connection.js';

export interface SessionInfo {
  device: string;
  certSerial: string;
  spkiSha256: string;
  /** When the presented certificate expires (ISO 8601). */
  notAfter: string;
  remoteAddress: string;
  connectedAt: Date;
  lastHeartbeat?: Date;
  deviceInfo?: { firmwareVersion: string; mcuType: string; freeMemory: number; maxAppSize: number };
}

export interface SessionHandle {
  info: SessionInfo;
  /** Sends a request to the device and resolves with its reply; rejects with a RequestError. */
  request(body: Message, options?: RequestOptions): Promise<Message>;
  /** Closes the connection; `reason` ends up in the gateway log. */
  close(reason: string): void;
}

type Events = {
  up: [SessionHandle];
  down: [SessionHandle, string];
};

export class SessionRegistry extends EventEmitter<Events> {
  private readonly sessions = new Map<string, SessionHandle>();

  constructor() {
    super();
    // Every in-flight awaitDeviceSession activity listens for 'up'.
    this.setMaxListeners(0);
  }

  get size(): number {
    return this.sessions.size;
  }

  get(device: string): SessionHandle | undefined {
    return this.sessions.get(device);
  }

  list(): SessionHandle[] {
    return [...this.sessions.values()];
  }

  /** Registers a session; an older one for the same device is returned so the caller can close it. */
  add(session: SessionHandle): SessionHandle | undefined {
    const previous = this.sessions.get(session.info.device);
    this.sessions.set(session.info.device, session);
    this.emit('up', session);
    return previous;
  }

  /** Removes the session if it is still the current one for its device. */
  remove(session: SessionHandle, reason: string): boolean {
    if (this.sessions.get(session.info.device) !== session) return false;
    this.sessions.delete(session.info.device);
    this.emit('down', session, reason);
    return true;
  }
}
