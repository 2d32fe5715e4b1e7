// The requests in flight, found by the serial number the addon gives each. Serials rise by one per request, and few
// requests are in flight at once, so a power-of-two array indexed by the serial's low bits holds them without hashing
// and without allocating per request (a Map reallocated its table as requests came and went); it doubles when a
// long-lived request sits where a new one would go.
interface Serialed {
  readonly serial: number;
}

export class RequestTable<T extends Serialed> {
  #slots: Array<T | undefined> = new Array<T | undefined>(64).fill(undefined);
  #mask = 63;

  add(request: T): void {
    for (let held = this.#slots[request.serial & this.#mask]; held !== undefined;) {
      // No width of table would part two requests under one serial: growing would go on until memory ran out.
      if (held.serial === request.serial) throw new Error(`request serial ${request.serial} is already in flight`);
      this.#grow();
      held = this.#slots[request.serial & this.#mask];
    }
    this.#slots[request.serial & this.#mask] = request;
  }

  get(serial: number): T | undefined {
    const request = this.#slots[serial & this.#mask];
    return request !== undefined && request.serial === serial ? request : undefined;
  }

  delete(request: T): void {
    const index = request.serial & this.#mask;
    if (this.#slots[index] === request) this.#slots[index] = undefined;
  }

  #grow(): void {
    const old = this.#slots;
    this.#slots = new Array<T | undefined>(old.length * 2).fill(undefined);
    this.#mask = this.#slots.length - 1;
    // Serials of requests in flight are distinct, and a wider mask keeps distinct low bits distinct.
    for (const request of old) if (request !== undefined) this.#slots[request.serial & this.#mask] = request;
  }
}
