using Ingestion.Api.Jobs;
using Ingestion.Platform.Jobs;
using Ingestion.Platform.Storage;

namespace Ingestion.Api.Syncs;

/// <summary>A sync as the jobs API shows it: the source and range, its progress against the upstream and its budget, and at the end its reconciliation.</summary>
public sealed class SyncKindView : JobKindView<SyncJob>
{
    public override IReadOnlyList<JobViewField> Fields { get; } =
    [
        new("Sync", typeof(SyncView), JobViewSlot.Subject),
        new("Reconciliation", typeof(ReconciliationView), JobViewSlot.Outcome),
        new("SyncRejects", typeof(RejectsLinkView), JobViewSlot.Outcome),
    ];

    protected override void Show(SyncJob job, JobViewParts view)
    {
        view.Set("Sync", new SyncView(job.Source, job.Mode, job.Since, job.Until, job.Partitions));
        view.Progress = new SyncProgressView(job.Requests, job.Records, job.RowsLoaded, job.Duplicates, job.Rejects, job.Http429,
            job.BudgetShare, job.ExpectedTotal, EtaOf(job));
        view.Set("Reconciliation", job.CurrentState == SyncJob.States.Synced ? ReconciliationOf(job, null) : null);
    }

    /// <summary>
    /// A synced job's duplicate keys, from its own table: only here, so lists, streams and events stay small. A synced job
    /// no longer changes, so the job's version still tags the answer.
    /// </summary>
    protected override async Task ShowDetailsAsync(SyncJob job, JobViewParts view, IServiceProvider services, CancellationToken cancellationToken)
    {
        if (job.CurrentState != SyncJob.States.Synced)
        {
            return;
        }

        var keys = await ActivatorUtilities.GetServiceOrCreateInstance<SyncDuplicates>(services).ReadAsync(job.CorrelationId, cancellationToken);
        view.Set("Reconciliation", ReconciliationOf(job, new DuplicateKeysView(keys, keys.Sum(k => k.Times) == job.Duplicates)));
    }

    private static ReconciliationView ReconciliationOf(SyncJob job, DuplicateKeysView? duplicateKeys) =>
        new(job.ExpectedTotal, job.RowsLoaded, job.Duplicates, job.Rejects,
            job.ExpectedTotal is { } expected ? job.RowsLoaded + job.Rejects - expected : null, duplicateKeys);

    protected override async Task ShowLinksAsync(SyncJob job, JobViewParts view, ObjectStore store)
    {
        if (job.RejectsKey is { } key)
        {
            var expiresAt = DateTimeOffset.UtcNow + store.PresignedUrlLifetime;
            view.Set("SyncRejects", new RejectsLinkView(job.Rejects, await store.PresignGetAsync(key, expiresAt, $"rejects-{job.CorrelationId}.csv"), expiresAt));
        }
    }

    /// <summary>The presigned rejects link is renewed every half lifetime, as an upload's is.</summary>
    protected override string Tag(SyncJob job, TimeSpan linkLifetime) =>
        job.RejectsKey is null ? "" : "-" + DateTimeOffset.UtcNow.UtcTicks / Math.Max(1, linkLifetime.Ticks / 2);

    /// <summary>From the pace so far, when the upstream reports its total and the sync is running.</summary>
    private static DateTimeOffset? EtaOf(SyncJob job)
    {
        if (job.ExpectedTotal is not { } expected || job.StartedAt is not { } started || job.IsFinished || job.Records <= 0)
        {
            return null;
        }

        var elapsed = job.UpdatedAt - started;
        var left = Math.Max(0, expected - job.Records);
        return elapsed <= TimeSpan.Zero ? null : job.UpdatedAt + elapsed * ((double)left / job.Records);
    }
}

/// <summary>What a sync pulls: the source, the mode, the time range asked for, and how many partitions it was split into.</summary>
public sealed record SyncView(string Source, string Mode, DateTimeOffset? Since, DateTimeOffset? Until, int Partitions);

/// <param name="Requests">HTTP requests made to the upstream.</param>
/// <param name="Records">Records read from committed pages.</param>
/// <param name="RowsLoaded">Distinct keys the sync added to the table.</param>
/// <param name="Duplicates">Records whose key was already loaded (kept, or replaced under upsert).</param>
/// <param name="Rejects">Records that did not fit the dataset.</param>
/// <param name="Http429">429 answers received.</param>
/// <param name="BudgetShare">The share of the rate budget's declared pace the sync used, 0 to 1.</param>
/// <param name="ExpectedTotal">What the upstream reports it has, when it does.</param>
/// <param name="Eta">When the sync should end at its pace so far, when the upstream reports a total.</param>
public sealed record SyncProgressView(long Requests, long Records, long RowsLoaded, long Duplicates, long Rejects, long Http429,
    double BudgetShare, long? ExpectedTotal, DateTimeOffset? Eta);

/// <summary>
/// The finished sync's account: what the upstream said it had, against what was loaded, seen twice and rejected.
/// <paramref name="Difference"/> is loaded + rejected − expected: 0 when everything is accounted for.
/// <paramref name="DuplicateKeys"/> names the keys behind <paramref name="Duplicates"/> (only <c>GET /v1/jobs/{id}</c>
/// shows them; null in lists and streams).
/// </summary>
public sealed record ReconciliationView(long? Expected, long DistinctKeysLoaded, long Duplicates, long Rejects, long? Difference,
    DuplicateKeysView? DuplicateKeys);

/// <summary>
/// The keys a sync found already loaded: the first <see cref="SyncDuplicates.MaxKeys"/>, each with how many of the job's
/// records carried it again and where (partition, page, record number). <paramref name="Complete"/>: these keys account
/// for every duplicate counted; false when the job met more keys than are kept.
/// </summary>
public sealed record DuplicateKeysView(IReadOnlyList<SyncDuplicateKey> Keys, bool Complete);

/// <summary>The records a sync rejected: how many, and a presigned link to the CSV (record number, column, reason, raw JSON).</summary>
public sealed record RejectsLinkView(long Count, string Url, DateTimeOffset ExpiresAt);
