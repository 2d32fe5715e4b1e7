'use client';
// A client component, so that the page loads hashed chunks from /_next/static.
import { useState } from 'react';

export default function Home() {
  const [count, setCount] = useState(0);
  return (
    <main>
      <h1>Hello from Next.js ({process.env.NEXT_PUBLIC_BUILD_LABEL ?? 'build'})</h1>
      <button onClick={() => setCount(count + 1)}>clicked {count}</button>
    </main>
  );
}
