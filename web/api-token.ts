/**
 * What an API token must be before the web process answers to it: a manifest or a guide may
 * ship a placeholder (`change-me`), and an install left unchanged would then answer to a token
 * everyone knows. A real token is random and long: `openssl rand -hex 32` (docs/kubernetes.md).
 */
import { ValidationError } from '../common/errors.js';

export const API_TOKEN_MIN_LENGTH = 32;

/** Words of the placeholders that documentation and examples use. */
const PLACEHOLDER = /change-?me|changeit|replace-?me|placeholder|example|your-?token|secret|password/i;

/** Throws a ValidationError naming WASMBED_API_TOKEN when the token is a placeholder or short. */
export function checkApiToken(token: string | undefined): void {
  if (token === undefined) return;
  const problem = PLACEHOLDER.test(token)
    ? 'looks like a placeholder'
    : token.length < API_TOKEN_MIN_LENGTH
      ? `is ${token.length} characters long; at least ${API_TOKEN_MIN_LENGTH} are required`
      : /^(.)\1*$/.test(token)
        ? 'repeats one character'
        : undefined;
  if (problem) {
    throw new ValidationError(
      'WASMBED_API_TOKEN',
      `WASMBED_API_TOKEN ${problem}: set a random token, e.g. \`openssl rand -hex 32\``,
    );
  }
}
