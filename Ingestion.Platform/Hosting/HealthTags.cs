namespace Ingestion.Platform.Hosting;

public static class HealthTags
{
    /// <summary>Checks that decide whether the process should receive traffic.</summary>
    public const string Ready = "ready";
}
