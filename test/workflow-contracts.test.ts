/**
 * The contracts callers start workflows by must name workflows the worker really registers:
 * the compiler checks signatures (workflows/index.ts), this checks the names and the ID helpers.
 */
import { describe, expect, it } from 'vitest';
import * as workflows from '../workflows/index.js';
import {
  WORKFLOW_CONTRACTS,
  deployWorkflowId,
  deprovisionWorkflowId,
  enrollWorkflowId,
  lifecycleWorkflowId,
  provisionWorkflowId,
  stopWorkflowId,
  undeployWorkflowId,
} from '../workflows/contracts/index.js';

describe('workflow contracts', () => {
  it('has one contract per exported workflow, under the name the worker registers', () => {
    const exported = Object.entries(workflows)
      .filter(([, value]) => typeof value === 'function')
      .map(([name]) => name)
      .sort();
    expect(Object.keys(WORKFLOW_CONTRACTS).sort()).toEqual(exported);
    for (const [name, contract] of Object.entries(WORKFLOW_CONTRACTS)) {
      expect(contract.workflowType).toBe(name);
      expect((workflows as Record<string, { name: string }>)[name]!.name).toBe(name);
    }
  });

  it('derives workflow IDs from resource names, one prefix per workflow', () => {
    const ids = [
      provisionWorkflowId('d'),
      deprovisionWorkflowId('d'),
      lifecycleWorkflowId('d'),
      enrollWorkflowId('d'),
      deployWorkflowId('d'),
      undeployWorkflowId('d'),
      stopWorkflowId('d'),
    ];
    expect(ids).toEqual([
      'provision-d',
      'deprovision-d',
      'lifecycle-d',
      'enroll-d',
      'deploy-d',
      'undeploy-d',
      'stop-d',
    ]);
  });
});
