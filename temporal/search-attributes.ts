/**
 * Custom search attributes that make the Temporal Web UI filterable by device, application
 * and phase (e.g. `WasmbedDevice = "dev-1"`). Workflow-safe.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const DEVICE_ATTRIBUTE = defineSearchAttributeKey('WasmbedDevice', SearchAttributeType.KEYWORD);
export const APPLICATION_ATTRIBUTE = defineSearchAttributeKey(
  'WasmbedApplication',
  SearchAttributeType.KEYWORD,
);
export const PHASE_ATTRIBUTE = defineSearchAttributeKey('WasmbedPhase', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTES = [DEVICE_ATTRIBUTE, APPLICATION_ATTRIBUTE, PHASE_ATTRIBUTE];
