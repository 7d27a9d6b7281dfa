export type BreakerState = 'closed' | 'open' | 'half_open' | 'disabled';

/**
 * Health of one upstream or one credential. Opens after `failures` consecutive
 * failures; after `cooldownMs` lets exactly one probe through (half-open); closes
 * on the probe's success, opens again on its failure. `disable()` (a 401/403:
 * credentials bad or revoked) keeps it out until an admin enables it again.
 */
export class CircuitBreaker {
  private consecutive = 0;
  private openedAt = 0;
  private probing = false;
  private disabledReason: string | undefined;
  private opened = false;

  constructor(
    private readonly failures: number,
    private readonly cooldownMs: number,
  ) {}

  state(now: number): BreakerState {
    if (this.disabledReason !== undefined) return 'disabled';
    if (!this.opened) return 'closed';
    return now - this.openedAt >= this.cooldownMs ? 'half_open' : 'open';
  }

  /** Whether a call may go out now; a half-open breaker admits its single probe and then refuses until it reports. */
  allow(now: number): boolean {
    const s = this.state(now);
    if (s === 'closed') return true;
    if (s !== 'half_open' || this.probing) return false;
    this.probing = true;
    return true;
  }

  /** Whether allow() would say yes, without taking the probe. */
  available(now: number): boolean {
    const s = this.state(now);
    return s === 'closed' || (s === 'half_open' && !this.probing);
  }

  success(): void {
    this.consecutive = 0;
    this.opened = false;
    this.probing = false;
  }

  failure(now: number): void {
    this.consecutive += 1;
    if (this.probing || this.consecutive >= this.failures) {
      this.opened = true;
      this.openedAt = now;
    }
    this.probing = false;
  }

  /** A call that ended for a reason that says nothing about health (the client left): frees a probe slot. */
  neutral(): void {
    this.probing = false;
  }

  disable(reason: string): void {
    this.disabledReason = reason;
  }

  enable(): void {
    this.disabledReason = undefined;
    this.success();
  }

  get reason(): string | undefined {
    return this.disabledReason;
  }

  get consecutiveFailures(): number {
    return this.consecutive;
  }
}
