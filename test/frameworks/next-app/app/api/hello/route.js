export const dynamic = 'force-dynamic';

export function GET(request) {
  return Response.json({ hello: 'next', pid: process.pid, url: new URL(request.url).pathname });
}
