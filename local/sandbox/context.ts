/**
 * The state and collaborators shared by the sandbox's route modules.
 * @module
 */
import type { CallbackDispatcher } from "./callbacks.ts";
import type { SandboxConfig } from "./config.ts";
import type { SandboxStore } from "./store.ts";
import type { TaskTracker } from "./tasks.ts";

/** Everything a route needs; built once per sandbox by `startSandbox`. */
export interface SandboxContext {
  accountSid: string;
  authToken: string;
  phoneNumbers: readonly string[];
  messagingServiceSid: string | null;
  store: SandboxStore;
  dispatcher: CallbackDispatcher;
  tasks: TaskTracker;
  /** The live config. */
  config(): SandboxConfig;
  /** Replaces the live config. */
  setConfig(config: SandboxConfig): void;
  /** What `{"reset": true}` restores. */
  defaults(): SandboxConfig;
  random: () => number;
  log: (line: string) => void;
}
