/**
 * Workflow histories as JSON files, for test/workflow-replay.test.ts and
 * scripts/record-histories.ts.
 *
 * Not the SDK's historyToJSON/historyFromJSON: with this lockfile npm installs protobufjs 8 three
 * times (under @temporalio/proto, /common and /worker, because protobufjs 7 is hoisted for
 * OpenTelemetry and dockerode), and the protojson converter in @temporalio/common rejects the
 * History type @temporalio/proto built with its own copy ("TypeError: type must be a Type").
 * The generated History message's own toObject/fromObject are exact inverses of each other, and
 * Worker.runReplayHistories takes the History message they produce.
 */
import proto from '@temporalio/proto';

// A CommonJS module: its namespace comes as the default export.
const HistoryMessage = proto.temporal.api.history.v1.History;
type History = proto.temporal.api.history.v1.IHistory;

/** Enum names, 64-bit numbers as decimal strings, bytes as base64: readable and lossless. */
export function historyToJson(history: History): string {
  const message = HistoryMessage.fromObject(history);
  const object = HistoryMessage.toObject(message, { enums: String, longs: String, bytes: String });
  return JSON.stringify(object, null, 1) + '\n';
}

export function historyFromJson(text: string): proto.temporal.api.history.v1.History {
  return HistoryMessage.fromObject(JSON.parse(text));
}
