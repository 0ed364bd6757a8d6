namespace Ingestion.Workers.Syncs;

/// <summary>
/// How late this worker's slot waiters wake after their slots, over the last <see cref="Size"/> wake-ups: what sizes the
/// tolerance its grants carry (<see cref="RateBudget.Tolerance"/>). On a quiet machine the clock's thread wakes within a
/// millisecond and the grants stay short, so the pace stays near the policy's; on a busy one it wakes later, and the grants
/// grow to cover it instead of losing the slots (a slot lost costs a whole spacing, a longer grant a fraction of one).
/// </summary>
internal sealed class WakeLateness
{
    /// <summary>Wake-ups remembered: enough for a steady percentile, few enough to follow a machine that gets busy.</summary>
    private const int Size = 128;

    /// <summary>The share of wake-ups a grant's tolerance should cover.</summary>
    private const double Covered = 0.95;

    private readonly double[] _ms = new double[Size];
    private readonly object _gate = new();
    private int _next;
    private int _count;

    public void Add(TimeSpan lateness)
    {
        lock (_gate)
        {
            _ms[_next] = Math.Max(0, lateness.TotalMilliseconds);
            _next = (_next + 1) % Size;
            _count = Math.Min(_count + 1, Size);
        }
    }

    /// <summary>
    /// The tolerance to give the next grant: the <see cref="Covered"/> share of recent wake-ups plus
    /// <paramref name="headroom"/> (the way from the wake-up to the request's first byte), within
    /// <paramref name="least"/> and <paramref name="most"/>; <paramref name="unknown"/> before there are enough to tell.
    /// </summary>
    public TimeSpan Tolerance(TimeSpan least, TimeSpan most, TimeSpan headroom, TimeSpan unknown)
    {
        double[] sorted;
        lock (_gate)
        {
            if (_count < 16)
            {
                return unknown;
            }

            sorted = _ms[.._count];
        }

        Array.Sort(sorted);
        var covered = TimeSpan.FromMilliseconds(sorted[(int)Math.Ceiling(Covered * sorted.Length) - 1]) + headroom;
        return covered < least ? least : covered > most ? most : covered;
    }
}
