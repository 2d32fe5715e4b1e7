// The calls the event-loop server (native/event_loop/loop_server.h, LoopDispatch) makes into JS: dispatch(kind, serial,
// code, payload, rest) with these kinds. A request's facts and parameters come packed as lib/request/packed-params.ts
// reads them. test/unit/loop-messages.test.ts checks the kinds against the C++ header.

/** dispatch()'s kinds, as native/event_loop/loop_server.h's LoopDispatch numbers them. */
export const Dispatch = {
  request: 0,
  readable: 1,
  drained: 2,
  startData: 3,
  aborted: 4,
  closed: 5,
  refused: 6,
} as const;
