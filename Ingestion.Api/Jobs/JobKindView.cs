using Ingestion.Platform.Jobs;
using Ingestion.Platform.Storage;

namespace Ingestion.Api.Jobs;

/// <summary>Where a kind's own fields stand in the job view: after what the job works on, or after what went wrong.</summary>
public enum JobViewSlot
{
    /// <summary>After <c>dataset</c>.</summary>
    Subject,

    /// <summary>After <c>error</c>.</summary>
    Outcome,
}

/// <summary>A field a kind adds to the job view, shown (as null) on every job so that the view has one shape.</summary>
/// <param name="Name">As in C#; the JSON name follows the API's naming policy.</param>
public sealed record JobViewField(string Name, Type Type, JobViewSlot Slot);

/// <summary>What a kind fills in while its job's view is built.</summary>
public sealed class JobViewParts(JobKindView kind, Dictionary<string, string> links, CancellationView? cancellation)
{
    internal Dictionary<string, object?> Fields { get; } = new(StringComparer.Ordinal);

    internal IReadOnlyDictionary<string, string> Links => links;

    /// <summary><c>progress</c>, in the shape of the kind.</summary>
    public object? Progress { get; set; }

    public CancellationView? Cancellation { get; set; } = cancellation;

    /// <summary>Adds a link of the kind's own (e.g. a download) after the shared ones.</summary>
    public void Link(string name, string url) => links[name] = url;

    /// <summary>One of the kind's declared <see cref="JobKindView.Fields"/>.</summary>
    public void Set(string field, object? value)
    {
        if (!kind.Fields.Any(f => f.Name == field))
        {
            throw new InvalidOperationException($"The {kind.Kind.Name} job view declares no field {field}.");
        }

        Fields[field] = value;
    }
}

/// <summary>
/// What a kind of job adds to the jobs API: its fields and progress in the job view, what
/// besides the version its <c>ETag</c> depends on, and endpoints of its own under
/// <c>/v1/jobs/{id}</c>. Each kind has one in its API folder, listed in <see cref="JobViews"/>.
/// </summary>
public abstract class JobKindView
{
    public abstract JobKind Kind { get; }

    public virtual IReadOnlyList<JobViewField> Fields => [];

    /// <summary>Endpoints only this kind has, mapped on the <c>/v1/jobs</c> group after the shared ones.</summary>
    public virtual void MapEndpoints(RouteGroupBuilder jobs)
    {
    }

    internal abstract void Show(JobState job, JobViewParts view);

    internal abstract Task ShowLinksAsync(JobState job, JobViewParts view, ObjectStore store);

    internal abstract Task ShowDetailsAsync(JobState job, JobViewParts view, IServiceProvider services, CancellationToken cancellationToken);

    internal abstract string Tag(JobState job, TimeSpan linkLifetime);
}

/// <summary>The view of jobs whose state is <typeparamref name="TJob"/>.</summary>
public abstract class JobKindView<TJob> : JobKindView
    where TJob : JobState
{
    public override JobKind Kind => JobKinds.Of(typeof(TJob));

    /// <summary>Progress and fields: what any answer about the job shows (a list, a stream, a retry).</summary>
    protected abstract void Show(TJob job, JobViewParts view);

    /// <summary>What only <c>GET /v1/jobs/{id}</c> shows: presigned links, which cost a signature each.</summary>
    protected virtual Task ShowLinksAsync(TJob job, JobViewParts view, ObjectStore store) => Task.CompletedTask;

    /// <summary>
    /// What only <c>GET /v1/jobs/{id}</c> shows from the kind's own tables (through a service of the API's): bounded
    /// detail read when asked for, not kept on the job, which every list, stream and event carries. It must not change
    /// without the job's version.
    /// </summary>
    protected virtual Task ShowDetailsAsync(TJob job, JobViewParts view, IServiceProvider services, CancellationToken cancellationToken) =>
        Task.CompletedTask;

    /// <summary>What the answer depends on besides the job's version (appended to it in the <c>ETag</c>).</summary>
    protected virtual string Tag(TJob job, TimeSpan linkLifetime) => "";

    internal sealed override void Show(JobState job, JobViewParts view) => Show((TJob)job, view);

    internal sealed override Task ShowLinksAsync(JobState job, JobViewParts view, ObjectStore store) =>
        ShowLinksAsync((TJob)job, view, store);

    internal sealed override Task ShowDetailsAsync(JobState job, JobViewParts view, IServiceProvider services, CancellationToken cancellationToken) =>
        ShowDetailsAsync((TJob)job, view, services, cancellationToken);

    internal sealed override string Tag(JobState job, TimeSpan linkLifetime) => Tag((TJob)job, linkLifetime);
}
