using System.Text.Json;

namespace Ingestion.Platform.Jobs;

/// <summary>How a job's instance is written to and read from the <c>data</c> column.</summary>
public static class JobSerializer
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    private static readonly Dictionary<string, Type> Kinds = new(StringComparer.Ordinal)
    {
        [UploadJob.KindName] = typeof(UploadJob),
        [StatementJob.KindName] = typeof(StatementJob),
    };

    public static bool IsKind(string kind) => Kinds.ContainsKey(kind);

    public static string KindOf(Type type) =>
        Kinds.FirstOrDefault(k => k.Value == type).Key
        ?? throw new ArgumentException($"{type.Name} is not a registered job kind.", nameof(type));

    public static string Serialize(JobState job) => JsonSerializer.Serialize(job, job.GetType(), Options);

    public static JobState Deserialize(string kind, string json) =>
        Kinds.TryGetValue(kind, out var type)
            ? (JobState)(JsonSerializer.Deserialize(json, type, Options) ?? throw new JsonException($"Job data of kind {kind} is empty."))
            : throw new JsonException($"Unknown job kind '{kind}'.");

    public static T Deserialize<T>(string json)
        where T : JobState =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new JsonException($"Job data of {typeof(T).Name} is empty.");
}
