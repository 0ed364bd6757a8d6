using System.ComponentModel.DataAnnotations;

namespace Ingestion.Platform.Storage;

/// <summary>Where objects live. Bound from the <c>S3</c> configuration section.</summary>
public sealed class S3Options
{
    public const string Section = "S3";

    /// <summary>Endpoint of an S3-compatible server (MinIO, s3rver); empty for AWS itself.</summary>
    public string? ServiceUrl { get; set; }

    [Required]
    public string Region { get; set; } = "us-east-1";

    /// <summary>Static credentials; when empty the AWS default credential chain applies.</summary>
    public string? AccessKey { get; set; }

    public string? SecretKey { get; set; }

    [Required, RegularExpression("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", ErrorMessage = "S3:Bucket must be a valid bucket name.")]
    public string Bucket { get; set; } = "";

    /// <summary>
    /// The endpoint that presigned links point at, when clients reach S3 by another address
    /// than this service does (e.g. http://localhost:9000 for a MinIO container named minio).
    /// Defaults to <see cref="ServiceUrl"/>.
    /// </summary>
    public string? PublicUrl { get; set; }

    /// <summary>How long a presigned download link stays valid, unless a caller asks for less.</summary>
    public TimeSpan PresignedUrlLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Path-style addressing (bucket in the path), which MinIO and s3rver need.</summary>
    public bool ForcePathStyle { get; set; } = true;

    /// <summary>
    /// Size of one multipart part. Memory of a streaming upload is bounded by this
    /// times (<see cref="PartsInFlight"/> + 1). S3 requires at least 5 MiB.
    /// </summary>
    [Range(5 * 1024 * 1024, 512 * 1024 * 1024)]
    public int PartSizeBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>Parts uploaded concurrently while the next one fills.</summary>
    [Range(1, 16)]
    public int PartsInFlight { get; set; } = 2;
}
