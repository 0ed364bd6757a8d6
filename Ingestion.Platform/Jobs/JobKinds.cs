namespace Ingestion.Platform.Jobs;

/// <summary>
/// Every kind of job the service runs. The serializer, the queues, the jobs API, webhooks,
/// retention and metrics ask here instead of naming a kind, so adding a kind is its own
/// folders and one line in <see cref="All"/>.
/// </summary>
public static class JobKinds
{
    /// <summary>The registered kinds, in the order the API lists them.</summary>
    public static readonly IReadOnlyList<JobKind> All =
    [
        UploadJob.Descriptor,
        StatementJob.Descriptor,
        SyncJob.Descriptor,
        IndexBuildJob.Descriptor,
    ];

    private static readonly Dictionary<string, JobKind> ByName = All.ToDictionary(k => k.Name, StringComparer.Ordinal);

    private static readonly Dictionary<Type, JobKind> ByType = All.ToDictionary(k => k.StateType);

    /// <summary>Every state a job can be in, each once: each kind's own, then those they share.</summary>
    public static readonly IReadOnlyList<string> States =
        All.SelectMany(k => k.States.Except([JobStates.Failed, JobStates.Cancelled])).Concat([JobStates.Failed, JobStates.Cancelled])
            .Distinct(StringComparer.Ordinal).ToList();

    /// <summary>Every state that ends a job, of any kind.</summary>
    public static readonly IReadOnlyList<string> FinalStates = All.SelectMany(k => k.FinalStates).Distinct(StringComparer.Ordinal).ToList();

    public static bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out JobKind? kind) =>
        ByName.TryGetValue(name, out kind);

    public static JobKind Named(string name) =>
        ByName.TryGetValue(name, out var kind)
            ? kind
            : throw new ArgumentOutOfRangeException(nameof(name), name, "No job kind of this name is registered.");

    public static JobKind Of(Type stateType) =>
        ByType.TryGetValue(stateType, out var kind)
            ? kind
            : throw new ArgumentException($"{stateType.Name} is not a registered job kind.", nameof(stateType));

    public static JobKind Of(JobState job) => Of(job.GetType());

    /// <summary>The kinds' names for a person: <c>upload or statement</c>.</summary>
    public static string Names(string conjunction) => Names(All, conjunction);

    /// <summary>Some kinds' names for a person: <c>upload</c>, or <c>upload and statement</c>.</summary>
    public static string Names(IReadOnlyList<JobKind> kinds, string conjunction) =>
        kinds.Count == 1 ? kinds[0].Name : $"{string.Join(", ", kinds.SkipLast(1).Select(k => k.Name))} {conjunction} {kinds[^1].Name}";
}
