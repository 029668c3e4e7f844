/**
 * Import rules checked by `npm run lint` (dependency-cruiser). Type-only imports count: a cycle
 * through `import type` still ties two modules together, and the compiler sees it.
 */
export default {
  forbidden: [
    {
      name: 'no-cycle',
      severity: 'error',
      comment:
        'Import cycles are forbidden: move the shared fact into a leaf module (e.g. workflows/contracts/).',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist|\\.tools|\\.wasmbed|firmware|examples/apps/dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
