import { json } from '@sveltejs/kit';

export function GET({ url }) {
  return json({ hello: 'sveltekit', pid: process.pid, url: url.pathname });
}
