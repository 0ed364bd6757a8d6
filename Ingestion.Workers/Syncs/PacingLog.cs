using System.Diagnostics;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// How a turn's budget slots went, for the turn's log: what to read when a sync runs below its
/// ceiling and the budget is where its partitions wait. How long a grant took to come back, how late
/// after its slot each request left (measured when its first byte was written, <see cref="SourceHttp"/>),
/// the slots let go and why, the confirmations a slot needed (<see cref="RateBudget"/>), and the
/// budget's idle time: gaps between consecutive grants longer than the policy's spacing, when no
/// partition was asking. Counters and fixed buckets only, whatever the turn's length.
/// </summary>
public sealed class PacingLog
{
    /// <summary>Upper bounds (ms) of the lateness buckets; the last bucket is everything above.</summary>
    private static readonly double[] LateBounds = [1, 2, 5, 10, 15, 25, 50];

    private readonly object _gate = new();
    private readonly long[] _late = new long[LateBounds.Length + 1];
    private readonly long[] _letGo = new long[Enum.GetValues<SlotVerdict>().Length];
    private readonly long _started = Stopwatch.GetTimestamp();
    private readonly TimeSpan _spacing;
    private long _grants;
    private double _grantMs;
    private double _grantMaxMs;
    private double _lateMaxMs;
    private long _sent;
    private long _confirms;
    private readonly long[] _pauses = new long[Enum.GetValues<PauseCause>().Length];
    private double _confirmMs;
    private long _lastGrant = long.MinValue;
    private long _firstSend;
    private long _lastSend;
    private double _idleSeconds;

    /// <summary>The last requests sent, by when they left: (left, answered) <see cref="Stopwatch"/> timestamps.</summary>
    private readonly List<(long Sent, long Answered)> _recent = [];
    private readonly int _requests;
    private readonly TimeSpan _window;
    private double _closestMs = double.MaxValue;
    private long _exposed;

    /// <param name="spacing">The policy's spacing between two slots: a longer gap between grants is time the budget had and nobody asked for.</param>
    /// <param name="tightest">The declared policy with the shortest window per request (null: none), whose windows the sends are checked in.</param>
    public PacingLog(TimeSpan spacing, Ingestion.Platform.Sources.RateLimitPolicy? tightest)
    {
        _spacing = spacing;
        _requests = tightest?.Requests ?? 0;
        _window = TimeSpan.FromSeconds(tightest?.PerSeconds ?? 0);
    }

    public void Granted(BudgetSlot slot)
    {
        lock (_gate)
        {
            _grants++;
            var ms = slot.RoundTrip.TotalMilliseconds;
            _grantMs += ms;
            _grantMaxMs = Math.Max(_grantMaxMs, ms);
            if (slot.Latest > _lastGrant)
            {
                if (_lastGrant != long.MinValue)
                {
                    var gap = Stopwatch.GetElapsedTime(_lastGrant, slot.Latest);
                    if (gap > _spacing * 1.5)
                    {
                        _idleSeconds += (gap - _spacing).TotalSeconds;
                    }
                }

                _lastGrant = slot.Latest;
            }
        }
    }

    public void Confirmed(TimeSpan took)
    {
        lock (_gate)
        {
            _confirms++;
            _confirmMs += took.TotalMilliseconds;
        }
    }

    /// <summary>
    /// A request left at <paramref name="sentAt"/> (<see cref="Stopwatch"/>), its slot's latest moment on this worker's clock being
    /// <paramref name="slotAt"/>, and its answer's headers came at <paramref name="answeredAt"/>. Against the request the policy's
    /// window before it: how close the sends came (the closest span of R + 1 sends: at least the window and the margin), and how
    /// often the upstream could have counted them closer than the window (the earlier one's answer came less than a window
    /// before the later one left: a busy upstream stamps a request late, up to when it answers).
    /// </summary>
    public void Sent(long sentAt, long slotAt, long answeredAt)
    {
        var ms = Math.Max(0, Stopwatch.GetElapsedTime(slotAt, sentAt).TotalMilliseconds);
        var bucket = Array.FindIndex(LateBounds, b => ms < b);
        lock (_gate)
        {
            if (_requests > 0)
            {
                var at = _recent.FindLastIndex(r => r.Sent <= sentAt) + 1;
                _recent.Insert(at, (sentAt, answeredAt));
                if (at >= _requests)
                {
                    var before = _recent[at - _requests];
                    _closestMs = Math.Min(_closestMs, Stopwatch.GetElapsedTime(before.Sent, sentAt).TotalMilliseconds);
                    if (Stopwatch.GetElapsedTime(before.Answered, sentAt) < _window)
                    {
                        _exposed++;
                    }
                }

                if (_recent.Count > 4 * _requests)
                {
                    _recent.RemoveRange(0, _recent.Count - 2 * _requests);
                }
            }

            _sent++;
            _late[bucket < 0 ? LateBounds.Length : bucket]++;
            _lateMaxMs = Math.Max(_lateMaxMs, ms);
            _firstSend = _firstSend == 0 ? sentAt : _firstSend;
            _lastSend = Math.Max(_lastSend, sentAt);
        }
    }

    /// <summary>An answer paused the whole budget: a 429, a <c>Retry-After</c>, or a spent <c>Remaining</c> the budget's own grants did not explain.</summary>
    public void Paused(PauseCause cause)
    {
        lock (_gate)
        {
            _pauses[(int)cause]++;
        }
    }

    public void LetGo(SlotVerdict why)
    {
        lock (_gate)
        {
            _letGo[(int)why]++;
        }
    }

    /// <summary>Grants confirmed by a query of their own before their slot.</summary>
    public long Confirmations
    {
        get
        {
            lock (_gate)
            {
                return _confirms;
            }
        }
    }

    public long LetGoCount
    {
        get
        {
            lock (_gate)
            {
                return _letGo.Sum();
            }
        }
    }

    /// <summary>One line: grants, lateness at send, let go by reason, confirmations, idle budget, and the turn's first and last seconds.</summary>
    public string Summary()
    {
        lock (_gate)
        {
            var now = Stopwatch.GetTimestamp();
            var buckets = string.Join(" ", LateBounds.Select((b, i) => $"<{b}:{_late[i]}").Append($">={LateBounds[^1]}:{_late[^1]}"));
            return $"{_grants} grants (round trip avg {(_grants == 0 ? 0 : _grantMs / _grants):0.0} ms, max {_grantMaxMs:0.0}); "
                   + $"{_sent} sent, ms after the slot [{buckets}] max {_lateMaxMs:0.0}; "
                   + $"let go: {_letGo[(int)SlotVerdict.Late]} late at wake, {_letGo[(int)SlotVerdict.LateAtSend]} late at send, "
                   + $"{_letGo[(int)SlotVerdict.Withdrawn]} withdrawn, {_letGo[(int)SlotVerdict.Paused]} paused; "
                   + $"{_pauses.Sum()} pauses from answers ({_pauses[(int)PauseCause.Refused]} on a 429, "
                   + $"{_pauses[(int)PauseCause.RetryAfter]} on a Retry-After, {_pauses[(int)PauseCause.SpentRemaining]} on a spent Remaining); "
                   + (_requests > 0 && _closestMs < double.MaxValue
                       ? $"closest {_requests + 1} sends {_closestMs:0.0} ms apart, {_exposed} within a window of the answer {_requests} before; "
                       : "")
                   + $"{_confirms} confirmations ({_confirmMs:0} ms); budget idle {_idleSeconds:0.00} s; "
                   + $"first send {(_firstSend == 0 ? 0 : Stopwatch.GetElapsedTime(_started, _firstSend).TotalSeconds):0.000} s into the turn, "
                   + $"last {(_lastSend == 0 ? 0 : Stopwatch.GetElapsedTime(_lastSend, now).TotalSeconds):0.000} s before its end";
        }
    }
}

/// <summary>Why an answer paused the budget.</summary>
public enum PauseCause
{
    /// <summary>A 429.</summary>
    Refused,

    /// <summary>A <c>Retry-After</c> on another status (a 503, say).</summary>
    RetryAfter,

    /// <summary>A spent <c>Remaining</c> that the budget's own grants did not explain.</summary>
    SpentRemaining,
}
