using Ingestion.Api.Jobs;
using Ingestion.Platform.Jobs;

namespace Ingestion.Api.Indexes;

/// <summary>An index build as the jobs API shows it: the index, and PostgreSQL's progress of its build.</summary>
public sealed class IndexBuildKindView : JobKindView<IndexBuildJob>
{
    public override IReadOnlyList<JobViewField> Fields { get; } =
    [
        new("Index", typeof(IndexView), JobViewSlot.Subject),
    ];

    protected override void Show(IndexBuildJob job, JobViewParts view)
    {
        view.Set("Index", new IndexView(job.IndexName, job.Columns));
        view.Progress = new IndexBuildProgressView(job.Phase, job.BlocksDone, job.BlocksTotal, job.TuplesDone, job.TuplesTotal);
    }
}

/// <summary>The index a job builds: its name in the tenant's schema (chosen by the service) and its columns, in order.</summary>
public sealed record IndexView(string Name, IReadOnlyList<string> Columns);

/// <summary>PostgreSQL's progress of the build (<c>pg_stat_progress_create_index</c>), as of the last report.</summary>
/// <param name="Phase">The build's phase, e.g. <c>building index: scanning table</c>; null before it starts and once it ended.</param>
/// <param name="BlocksDone">Table blocks scanned in this phase.</param>
/// <param name="BlocksTotal">Table blocks to scan in this phase.</param>
/// <param name="TuplesDone">Rows processed in this phase.</param>
/// <param name="TuplesTotal">Rows to process in this phase (0 when PostgreSQL does not know).</param>
public sealed record IndexBuildProgressView(string? Phase, long BlocksDone, long BlocksTotal, long TuplesDone, long TuplesTotal);
