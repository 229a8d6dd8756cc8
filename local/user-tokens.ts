/**
 * The seeded users' access tokens, kept fresh while the stack runs.
 *
 * `supabase start` hands out API keys that last ten years (supabase/cli `pkg/config/apikeys.go`,
 * `generateJWT`) but no user tokens: a user's access token comes from Supabase Auth, lasts
 * `auth.jwt_expiry` (3600 s by default, `pkg/config/templates/config.toml`) and supabase-js
 * refreshes it. This stack has no Auth server, so it plays that part: tokens last a day, and a
 * new set is minted well before they expire, into the same record the demo server reads and
 * into stack.json, for as long as the stack runs.
 */
import { type AuthMode, mintUserToken, type StackKeys } from "./keys.ts";

/** How long a seeded user's token lasts. */
export const USER_TOKEN_TTL_SECONDS = 24 * 3600;
/** How often a new set is minted: a token read just before a refresh still has 23 h to go. */
export const USER_TOKEN_REFRESH_MS = 3600_000;

/** The seeded users' tokens by email; `byEmail` is replaced in place on every refresh. */
export class UserTokens {
  readonly byEmail: Record<string, string> = {};
  #timer: ReturnType<typeof setInterval> | undefined;
  #refreshing: Promise<void> | null = null;

  constructor(
    readonly keys: StackKeys,
    readonly users: { id: string; email: string }[],
    readonly options: {
      issuer: string;
      mode: AuthMode;
      ttlSeconds?: number;
      refreshMs?: number;
      /** After each refresh (e.g. rewrite stack.json); its failure is logged, not fatal. */
      onRefresh?: () => Promise<void>;
      log?: (line: string) => void;
    },
  ) {}

  /** Mints a token per user now. */
  async mint(): Promise<void> {
    const next: Record<string, string> = {};
    for (const u of this.users) {
      next[u.email] = await mintUserToken(this.keys, { sub: u.id, email: u.email }, {
        issuer: this.options.issuer,
        mode: this.options.mode,
        expiresIn: this.options.ttlSeconds ?? USER_TOKEN_TTL_SECONDS,
      });
    }
    Object.assign(this.byEmail, next);
  }

  /** Mints a new set every `refreshMs` from now on, then calls `onRefresh`. */
  start(): void {
    const every = this.options.refreshMs ?? USER_TOKEN_REFRESH_MS;
    this.#timer = setInterval(() => {
      this.#refreshing ??= (async () => {
        await this.mint();
        await this.options.onRefresh?.();
      })().catch((e) => this.options.log?.(`user tokens: refresh failed: ${(e as Error).message}`))
        .finally(() => this.#refreshing = null);
    }, every);
    // Never what keeps a process alive: the stack's servers do that.
    Deno.unrefTimer(this.#timer);
  }

  /** Stops refreshing; waits for a refresh under way. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#refreshing;
  }
}
