/**
 * The apps a virtual device runs, kept in its volume the way a board keeps them in flash: a
 * device that restarts (its process, or the device host holding it, was killed) starts them
 * again by itself, before the platform has to notice and redeploy them.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { DeployRequest } from './apps/index.js';

type StoredSettings = Omit<DeployRequest, 'module'>;

export class AppFlash {
  constructor(private readonly dir: string) {}

  private file(appId: string, ext: 'wasm' | 'json'): string {
    return path.join(this.dir, `${encodeURIComponent(appId)}.${ext}`);
  }

  /** Keeps a deployed app; the settings file is written last, so a half-saved app is not loaded. */
  save(request: DeployRequest): void {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const { module, ...settings } = request;
    fs.writeFileSync(this.file(request.appId, 'wasm'), module);
    fs.writeFileSync(this.file(request.appId, 'json'), JSON.stringify(settings satisfies StoredSettings));
  }

  remove(appId: string): void {
    fs.rmSync(this.file(appId, 'json'), { force: true });
    fs.rmSync(this.file(appId, 'wasm'), { force: true });
  }

  /** Every app saved and complete; an unreadable one is skipped (the platform redeploys it). */
  load(): DeployRequest[] {
    if (!fs.existsSync(this.dir)) return [];
    const requests: DeployRequest[] = [];
    for (const entry of fs.readdirSync(this.dir)) {
      if (!entry.endsWith('.json')) continue;
      try {
        const settings = JSON.parse(fs.readFileSync(path.join(this.dir, entry), 'utf8')) as StoredSettings;
        const module = fs.readFileSync(this.file(settings.appId, 'wasm'));
        requests.push({ ...settings, module });
      } catch {
        // incomplete or damaged: skipped
      }
    }
    return requests;
  }
}
