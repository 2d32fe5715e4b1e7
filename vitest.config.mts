import { defineConfig } from 'vitest/config';

// The tests that pack the package and install it as a new user compile a C library and the addon, and those that build
// a framework's app run its bundler, which takes both cores for a while: they run after the others, so that the suites
// that bound time (concurrency, timeouts) never share the machine with a compiler.
const installs = [
  'test/package/install.test.ts',
  'test/package/arm64.test.ts',
  'test/webservers/shared-hosting.test.ts',
  'test/webservers/framework-builds.test.ts', // npm ci and a framework's build
];

// Every suite runs with the set-up that keeps a failure about megabytes a short line (test/helpers/setup.ts).
export const common = {
  testTimeout: 60_000,
  hookTimeout: 60_000,
  pool: 'forks' as const,
  setupFiles: ['./test/helpers/setup.ts'],
  // A failure shows the test's own line, not the set-up's wrapper around chai that it went through.
  onStackTrace: (_error: unknown, frame: { file: string }) => !frame.file.endsWith('/test/helpers/setup.ts'),
};

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...common,
          name: 'suites',
          include: ['test/**/*.test.ts'],
          exclude: installs,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: { ...common, name: 'installs', include: installs, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
