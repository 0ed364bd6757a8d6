using System.ComponentModel.DataAnnotations;

namespace Ingestion.Platform.Limits;

/// <summary>What one tenant may ask of the shared service. Bound from the <c>Limits</c> configuration section.</summary>
public sealed class LimitOptions
{
    public const string Section = "Limits";

    /// <summary>
    /// Jobs (uploads and statements together) a tenant may create in any 60 minutes; the next
    /// one is answered 429 with <c>Retry-After</c>. Operator keys are not limited.
    /// </summary>
    [Range(1, 1_000_000)]
    public int JobsPerHour { get; set; } = 10;

    /// <summary>Jobs of one tenant that process at the same time, across every worker.</summary>
    [Range(1, 1024)]
    public int ConcurrentJobsPerTenant { get; set; } = 4;

    /// <summary>
    /// How long a worker pauses before handing back a job whose tenant has every slot taken;
    /// the job then waits at the back of its queue, not in a consumer.
    /// </summary>
    public TimeSpan SlotWait { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Uploads (CSVs and attachments) of one tenant streaming in at once, across every API
    /// instance; one more is answered 429 with <c>Retry-After</c> before its body is read.
    /// </summary>
    [Range(1, 1024)]
    public int UploadsInFlightPerTenant { get; set; } = 4;

    /// <summary>Uploads one API instance streams in at once, whatever their tenants; one more is answered 503.</summary>
    [Range(1, 100_000)]
    public int UploadsInFlightPerInstance { get; set; } = 32;

    /// <summary>The <c>Retry-After</c> of an upload refused for either limit above.</summary>
    public TimeSpan UploadRetryAfter { get; set; } = TimeSpan.FromSeconds(5);
}
