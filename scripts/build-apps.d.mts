// Types for scripts/build-apps.mjs (plain JS so it runs before any build step).
export const ROOT: string;
export const APPS_DIR: string;
export const DIST_DIR: string;
export function listApps(): string[];
export function cToolchainProblem(): string | null;
export function buildApps(options?: {
  force?: boolean;
  only?: string[];
  log?: (line: string) => void;
}): Promise<Array<{ name: string; file: string; built: boolean; bytes: number; error?: string }>>;
