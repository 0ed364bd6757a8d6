using System.Threading.Channels;
using Ingestion.Platform.Jobs;

namespace Ingestion.Api.Progress;

/// <summary>
/// The job changes this API instance hears (see <see cref="JobChangedConsumer"/>), handed to
/// the live streams watching each job. A stream that falls behind does not hold memory or
/// the bus back: its buffer is small, and when it overflows the stream is told to catch up
/// from PostgreSQL, where every transition is kept.
/// </summary>
public sealed class JobFeed
{
    private const int Buffer = 64;

    private readonly Dictionary<Guid, List<Subscription>> _watchers = [];
    private readonly Lock _lock = new();

    /// <summary>Subscribe before reading the job, so that no change falls between the read and the first event.</summary>
    public Subscription Watch(Guid jobId)
    {
        var subscription = new Subscription(this, jobId);
        lock (_lock)
        {
            if (!_watchers.TryGetValue(jobId, out var list))
            {
                _watchers[jobId] = list = [];
            }

            list.Add(subscription);
        }

        return subscription;
    }

    public void Publish(JobChanged change)
    {
        Subscription[] watchers;
        lock (_lock)
        {
            if (!_watchers.TryGetValue(change.JobId, out var list))
            {
                return;
            }

            watchers = [.. list];
        }

        foreach (var watcher in watchers)
        {
            watcher.Offer(change);
        }
    }

    /// <summary>How many streams this instance serves, for metrics.</summary>
    public int Watchers
    {
        get
        {
            lock (_lock)
            {
                return _watchers.Values.Sum(list => list.Count);
            }
        }
    }

    private void Remove(Subscription subscription)
    {
        lock (_lock)
        {
            if (_watchers.TryGetValue(subscription.JobId, out var list) && list.Remove(subscription) && list.Count == 0)
            {
                _watchers.Remove(subscription.JobId);
            }
        }
    }

    public sealed class Subscription : IDisposable
    {
        private readonly JobFeed _feed;
        private readonly Channel<JobChanged> _changes = Channel.CreateBounded<JobChanged>(
            new BoundedChannelOptions(Buffer) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

        private int _overflowed;

        internal Subscription(JobFeed feed, Guid jobId)
        {
            _feed = feed;
            JobId = jobId;
        }

        public Guid JobId { get; }

        public ChannelReader<JobChanged> Changes => _changes.Reader;

        /// <summary>True once if changes were dropped since the last call: the reader must catch up from the database.</summary>
        public bool TakeOverflow() => Interlocked.Exchange(ref _overflowed, 0) == 1;

        /// <summary>Never waits: a full buffer (TryWrite fails in Wait mode) marks the overflow instead.</summary>
        internal void Offer(JobChanged change)
        {
            if (!_changes.Writer.TryWrite(change))
            {
                Interlocked.Exchange(ref _overflowed, 1);
            }
        }

        public void Dispose() => _feed.Remove(this);
    }
}
