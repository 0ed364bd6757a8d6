using Ingestion.Platform.Jobs;

namespace Ingestion.Workers.Jobs;

/// <summary>
/// The kinds of job this worker runs: <c>Workers:Jobs</c>, kind names separated by commas (<c>upload</c>, or
/// <c>statement,sync</c>), every kind when unset. A worker consumes only its kinds' queues and holds only their code
/// and memory (a statement's fonts, a sync's HTTP clients), so that loads can run on workers of their own, sized and
/// scaled for them. What keeps the job layer going runs on every worker whatever it names: the reaper (it sends any
/// kind's work again), retention, webhooks and the outbox relay. A kind that no running worker names waits, its jobs
/// in the kind's waiting state, and moves once such a worker starts. Its commands wait in the outbox while no worker of
/// the kind has ever declared its queues on the broker (RabbitMQ refuses them; the reaper leaves such a job alone), or
/// in its queue when one has (the reaper then sends the work again every <c>Reaper:StaleAfter</c>, copies that a worker
/// steps aside from). A sync schedule fires only while a worker runs syncs: a slot that passes with none is skipped.
/// </summary>
public sealed class WorkerJobs
{
    public const string Setting = "Workers:Jobs";

    private WorkerJobs(IReadOnlyList<JobKind> kinds) => Kinds = kinds;

    /// <summary>In the order of <see cref="JobKinds.All"/>.</summary>
    public IReadOnlyList<JobKind> Kinds { get; }

    public bool RunsAll => Kinds.Count == JobKinds.All.Count;

    public static WorkerJobs All { get; } = new(JobKinds.All);

    /// <summary>Unset or blank: every kind. Otherwise each name must be a kind's (in any case); a name that is not refuses to start.</summary>
    public static WorkerJobs Parse(string? setting)
    {
        if (string.IsNullOrWhiteSpace(setting))
        {
            return All;
        }

        var names = setting.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (names.Length == 0)
        {
            throw new InvalidOperationException(
                $"{Setting} is '{setting}', which names no kind of job: name some of {JobKinds.Names("and")}, separated by commas, or leave it unset for all of them.");
        }

        var unknown = names.Where(n => !JobKinds.All.Any(k => Matches(k, n))).ToList();
        if (unknown.Count > 0)
        {
            throw new InvalidOperationException(
                $"{Setting} names {string.Join(", ", unknown.Select(n => $"'{n}'"))}, which {(unknown.Count == 1 ? "is not a kind" : "are not kinds")} of job: it takes {JobKinds.Names("or")}, separated by commas.");
        }

        return new WorkerJobs(JobKinds.All.Where(k => names.Any(n => Matches(k, n))).ToList());
    }

    public bool Runs(JobKind kind) => Kinds.Contains(kind);

    /// <summary>For the log: <c>upload</c>, or <c>upload and statement</c>.</summary>
    public override string ToString() => JobKinds.Names(Kinds, "and");

    private static bool Matches(JobKind kind, string name) => string.Equals(kind.Name, name, StringComparison.OrdinalIgnoreCase);
}
