/**
 * Renode's board models for the Renode-emulated MCU profiles (renode/boards.json): which .repl,
 * console UART and Ethernet peripheral each profile has, and the check that refuses a board that
 * could never reach a gateway.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../../common/errors.js';
import { MCU_PROFILES, MCU_TYPES, isMcuType, type McuType } from '../../common/mcu-profiles.js';
import { REPO_ROOT } from '../../common/repo-root.js';

export interface RenodeBoard {
  mcuType: McuType;
  repl: string;
  cpuRepl: string;
  /** Console UART, as the monitor names it. */
  uart: string;
  /** Ethernet MAC peripheral, or null when Renode's model of the board has none. */
  ethernet: string | null;
}

export const RENODE_BOARDS_FILE = path.join(REPO_ROOT, 'renode', 'boards.json');

export function loadRenodeBoards(file = RENODE_BOARDS_FILE): RenodeBoard[] {
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { profiles: RenodeBoard[] };
  return parsed.profiles;
}

/** The board of a Renode profile, or a ValidationError naming the board and the boards that work. */
export function renodeBoardFor(mcuType: string, options: { network?: boolean } = {}): RenodeBoard {
  const boards = loadRenodeBoards();
  const works = boards.filter((b) => b.ethernet).map((b) => b.mcuType);
  const board = boards.find((b) => b.mcuType === mcuType);
  if (!isMcuType(mcuType) || !board) {
    throw new ValidationError(
      'mcuType',
      `mcuType "${mcuType}" is not a Renode board; boards that work with renode: ${works.join(', ')}`,
    );
  }
  if ((options.network ?? true) && !board.ethernet) {
    throw new ValidationError(
      'mcuType',
      `mcuType "${mcuType}" (board ${MCU_PROFILES[mcuType].zephyrBoard}, ${board.repl}) has no Ethernet in Renode and could never reach a gateway; boards that work with renode: ${works.join(', ')}`,
    );
  }
  return board;
}

/** Every Renode-emulated profile of common/mcu-profiles.ts. */
export const RENODE_MCU_TYPES = MCU_TYPES.filter((t) => MCU_PROFILES[t].emulator.kind === 'renode');
