// Types for the fakeidp admin API client (index.js). Field names follow
// docs/admin-api.md.
import type { ChildProcess, StdioOptions } from 'node:child_process';

/** "1500ms", "30s", "6m", "1h30m", "8d", or a number of seconds. */
export type Duration = string | number;
export type ClockMode = 'frozen' | 'ticking' | 'off';

export interface Clock {
  now_ms: number;
  now: string;
  frozen: boolean;
}

export interface Settings {
  access_ttl: string;
  refresh_ttl: string;
  session_max_age: string;
  inactivity_timeout: string;
  code_ttl: string;
  refresh_mode: 'grace' | 'strict' | 'revoke_family' | 'concurrent_429';
  refresh_grace: string;
  retry_after: string;
  issuer: string;
  issuer_base: string;
  issuer_url: string;
  aud: string;
  aud_value: string;
  legacy_claims: boolean;
  jwks_cache_control: string;
  refresh_cookie: boolean;
  refresh_cookie_name: string;
  session_cookie_domain: string;
  journal_size: number;
  max_sessions: number;
  max_body_bytes: number;
  [name: string]: unknown;
}

/** A fault rule as in docs/faults.md; the fake answers with its id and counters added. */
export interface FaultRule {
  id?: string;
  route?: string;
  grant_type?: string;
  action?: string;
  phase?: 'before' | 'after';
  status?: number;
  count?: number;
  first?: number;
  [key: string]: unknown;
}

export interface Fault extends FaultRule {
  id: string;
  action: string;
  phase: 'before' | 'after';
  matched: number;
  fired: number;
  remaining?: number;
}

export interface Membership {
  organization_id: string;
  role?: string;
  roles?: string[];
  permissions?: string[];
  [key: string]: unknown;
}

export interface User {
  id?: string;
  email: string;
  first_name?: string;
  last_name?: string;
  memberships?: Membership[];
  [key: string]: unknown;
}

export interface Session {
  object: 'session';
  id: string;
  user_id: string;
  client_id: string;
  organization_id: string | null;
  status: 'active' | 'inactive';
  created_at: string;
  last_activity_at: string;
  ended_at: string | null;
  end_reason: string | null;
  refresh_count: number;
}

export interface Key {
  kid: string;
  alg: string;
  kty: string;
  use: string;
  n: string;
  e: string;
  published: boolean;
  signing: boolean;
  publish_at_ms?: number;
  sign_from_ms?: number;
  retire_at_ms?: number;
}

export interface JournalEntry {
  seq: number;
  virtual_time: string;
  virtual_ms: number;
  wall_time: string;
  duration_ms: number;
  method: string;
  path: string;
  route: string;
  grant_type: string | null;
  status: number;
  outcome: string | null;
  client_id: string | null;
  session_id: string | null;
  user_id: string | null;
  token_hash: string | null;
  fault: string | null;
  request_id: string;
}

export interface Journal {
  entries: JournalEntry[];
  next: number;
  dropped: number;
}

/** The WORKOS_* variables of `fakeidp env`. */
export interface WorkosEnv {
  WORKOS_API_HOSTNAME: string;
  WORKOS_API_PORT: string;
  WORKOS_API_HTTPS: 'true' | 'false';
  WORKOS_CLIENT_ID: string;
  WORKOS_API_KEY: string;
  WORKOS_REDIRECT_URI: string;
  NEXT_PUBLIC_WORKOS_REDIRECT_URI: string;
  WORKOS_COOKIE_PASSWORD: string;
  [name: string]: string;
}

export class FakeIdpError extends Error {
  /** HTTP status, 0 when the fake could not be reached or did not start. */
  status: number;
  /** The fake's error code, e.g. "invalid_setting", "not_found". */
  code: string | null;
  body: unknown;
}

export interface ClientOptions {
  url: string;
  adminToken?: string | null;
  /** The fakeidp executable for env() and exec(); default $FAKEIDP_BIN, else "fakeidp". */
  binary?: string;
  /** The fake's configuration file (client id and API key for env() and exec()). */
  config?: string | null;
  /** How long setClock() waits for commands under exec() to follow (default 5000). */
  followTimeoutMs?: number;
}

export interface StartOptions {
  binary?: string;
  host?: string;
  /** 0 (default): a free port chosen by the system. */
  port?: number;
  config?: string | null;
  /** Settings given as --set NAME=VALUE. */
  settings?: Record<string, string | number | boolean>;
  adminToken?: string | null;
  /** More `fakeidp serve` options, e.g. ["--seed", "1"]. */
  args?: string[];
  env?: Record<string, string>;
  startTimeoutMs?: number;
  followTimeoutMs?: number;
}

export interface ExecOptions {
  cwd?: string;
  /** Added to process.env; WORKOS_REDIRECT_URI and WORKOS_COOKIE_PASSWORD given here are kept. */
  env?: Record<string, string>;
  clock?: ClockMode;
  stdio?: StdioOptions;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

export class ExecProcess {
  readonly process: ChildProcess;
  readonly pid: number | undefined;
  readonly exited: Promise<Exit>;
  readonly running: boolean;
  waitForUrl(url: string, options?: { timeoutMs?: number; intervalMs?: number }): Promise<number>;
  stop(options?: { signal?: NodeJS.Signals; timeoutMs?: number }): Promise<Exit>;
}

export class FakeIdp {
  constructor(options: ClientOptions);
  static start(options?: StartOptions): Promise<FakeIdp>;
  readonly url: string;
  /** The `fakeidp serve` process when start() made it. */
  readonly process: ChildProcess | null;
  stop(options?: { timeoutMs?: number }): Promise<void>;

  request<T = unknown>(method: string, path: string, body?: unknown, options?: { requestId?: string }): Promise<T>;
  health(): Promise<{ status: string; url: string }>;
  clock(): Promise<Clock>;
  advance(duration: Duration): Promise<Clock>;
  setClock(change: { freeze?: boolean; set?: number | Date; advance?: Duration }): Promise<Clock>;
  settings(changes?: Partial<Settings>): Promise<Settings>;
  fault(rules: FaultRule | FaultRule[]): Promise<string[]>;
  faults(): Promise<Fault[]>;
  clearFaults(id?: string): Promise<Fault[]>;
  signInAs(email: string): Promise<{ default_user: string }>;
  users(): Promise<User[]>;
  addUser(user: User): Promise<User[]>;
  sessions(filter?: { userId?: string }): Promise<Session[]>;
  revokeSession(id: string): Promise<Session>;
  keys(): Promise<Key[]>;
  rotateKeys(schedule?: { publishLead?: Duration; retireAfter?: Duration }): Promise<Key[]>;
  journal(filter?: { since?: number; route?: string; admin?: boolean }): Promise<Journal>;
  clearJournal(): Promise<Journal>;
  /** GET /_fakeidp/outbox (needs a fakeidp with that route; older ones answer 404). */
  outbox<T = unknown>(): Promise<T>;
  reset(): Promise<{ reset: true }>;
  env(options?: { redirectUri?: string }): Promise<WorkosEnv>;
  exec(command: string, args?: string[], options?: ExecOptions): ExecProcess;
}

export function freePort(): Promise<number>;
export function waitForUrl(url: string, options?: { timeoutMs?: number; intervalMs?: number }): Promise<number>;
export default FakeIdp;
