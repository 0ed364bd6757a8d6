
namespace Ingestion.Sample.Publisher;

/// <summary>What the sample does, from the <c>Sample</c> section (or <c>Sample__…</c> environment variables).</summary>
public sealed class SampleOptions
{
    public const string Section = "Sample";

    /// <summary>The CSV to load; it is streamed to S3, never read whole.</summary>
    public string CsvPath { get; set; } = "";

    /// <summary>A bucket this service writes and the Ingestion workers read.</summary>
    public string Bucket { get; set; } = "";

    /// <summary>Where in the bucket this service puts its files: its own prefix, so they are told apart.</summary>
    public string KeyPrefix { get; set; } = "";

    public string TenantId { get; set; } = "";

    public string Dataset { get; set; } = "";

    /// <summary>The statement asked for once the file is loaded: an account and a period (inclusive, UTC).</summary>
    public long AccountId { get; set; }

    public DateOnly From { get; set; }

    public DateOnly To { get; set; }

    /// <summary>This service's own queue for job outcomes; durable, so none is lost while it restarts.</summary>
    public string OutcomeQueue { get; set; } = "";

    /// <summary>The Ingestion API, for the statement's download link (events carry paths relative to it).</summary>
    public Uri ApiUrl { get; set; } = null!;

    /// <summary>The tenant's API key: a secret, from the environment or a secret store, never from this file.</summary>
    public string ApiKey { get; set; } = "";

    /// <summary>How long to wait for a job to end before giving up on it (the job itself goes on).</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(5);
}

/// <summary>The broker, from the <c>RabbitMq</c> section, as the Ingestion hosts name it.</summary>
public sealed class RabbitMqOptions
{
    public const string Section = "RabbitMq";

    public string Host { get; set; } = "";

    public int Port { get; set; } = 5672;

    public string VirtualHost { get; set; } = "/";

    public string Username { get; set; } = "";

    public string Password { get; set; } = "";
}

/// <summary>The object store, from the <c>S3</c> section, as the Ingestion hosts name it.</summary>
public sealed class S3Options
{
    public const string Section = "S3";

    /// <summary>Empty for AWS itself; the URL of MinIO or another S3-compatible server otherwise.</summary>
    public string ServiceUrl { get; set; } = "";

    public string Region { get; set; } = "us-east-1";

    public bool ForcePathStyle { get; set; } = true;

    /// <summary>Empty to use the default AWS credential chain (instance role, profile).</summary>
    public string AccessKey { get; set; } = "";

    public string SecretKey { get; set; } = "";
}
