using System.ComponentModel.DataAnnotations;

namespace Ingestion.Api.Uploads;

/// <summary>Bound from the <c>Uploads</c> configuration section.</summary>
public sealed class UploadOptions
{
    public const string Section = "Uploads";

    /// <summary>Largest accepted upload; a larger body is answered 413 and nothing is kept.</summary>
    [Range(1, long.MaxValue)]
    public long MaxBytes { get; set; } = 10L * 1024 * 1024 * 1024;
}
