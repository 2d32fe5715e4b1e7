export default defineEventHandler((event) => ({ hello: 'nuxt', pid: process.pid, url: event.path }));
