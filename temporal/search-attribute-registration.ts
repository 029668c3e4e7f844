/**
 * Makes sure the namespace knows Wasmbed's search attributes. Every workflow start carries them
 * (`WasmbedDevice`, `WasmbedPhase`, `WasmbedApplication`), and a Temporal that has no mapping for
 * one refuses the start with INVALID_ARGUMENT. The embedded dev server registers them with its
 * `--search-attribute` flags, but a Temporal the platform did not start (TEMPORAL_ADDRESS: the one
 * server several machines share) had none: every device create answered "TemporalUnavailable:
 * could not start workflow" while `wasmbed status` said Temporal was fine. The orchestrator worker
 * calls this at start, so any server the platform is pointed at gets them.
 */
import type { OperatorService } from '@temporalio/client';
// A CommonJS package: Node's ESM loader gives only its default export (a named import type-checks
// and passes under vitest, then fails in the real process).
import proto from '@temporalio/proto';
import { WasmbedError } from '../common/errors.js';
import { SEARCH_ATTRIBUTES } from './search-attributes.js';

const KEYWORD = proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
/** gRPC's status code ALREADY_EXISTS (both the client's and the worker's connection report it as `code`). */
const ALREADY_EXISTS = 6;

/** What a connection (client or worker) offers for this: the raw operator service. */
export interface OperatorConnection {
  readonly operatorService: OperatorService;
}

/**
 * Adds the search attributes the namespace lacks and returns their names (empty when all were
 * there). Another process adding them at the same moment is not an error. When the server will
 * not add them (Temporal Cloud has no operator service for that), the error says how to do it by
 * hand rather than leaving every workflow start to fail later.
 */
export async function ensureSearchAttributes(
  connection: OperatorConnection,
  namespace: string,
): Promise<string[]> {
  const missing = await missingSearchAttributes(connection, namespace);
  if (missing.length === 0) return [];
  try {
    await connection.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((name) => [name, KEYWORD])),
    });
  } catch (err) {
    if (grpcCode(err) === ALREADY_EXISTS) return missing;
    throw new WasmbedError(
      'SearchAttributesMissing',
      `Temporal namespace "${namespace}" lacks the search attributes ${missing.join(', ')} and refused to add them; ` +
        `add them by hand (Keyword), e.g. ${missing
          .map(
            (name) =>
              `temporal operator search-attribute create --namespace ${namespace} --name ${name} --type Keyword`,
          )
          .join('; ')}`,
      { cause: err },
    );
  }
  return missing;
}

async function missingSearchAttributes(connection: OperatorConnection, namespace: string): Promise<string[]> {
  let known: Record<string, unknown>;
  try {
    const listed = await connection.operatorService.listSearchAttributes({ namespace });
    known = { ...listed.customAttributes, ...listed.systemAttributes };
  } catch (err) {
    throw new WasmbedError(
      'TemporalUnavailable',
      `could not list the search attributes of Temporal namespace "${namespace}"`,
      { cause: err },
    );
  }
  return SEARCH_ATTRIBUTES.map((attribute) => attribute.name).filter((name) => !(name in known));
}

function grpcCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}
