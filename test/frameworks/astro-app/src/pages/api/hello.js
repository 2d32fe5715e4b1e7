export function GET({ url }) {
  return Response.json({ hello: 'astro', pid: process.pid, url: url.pathname });
}
