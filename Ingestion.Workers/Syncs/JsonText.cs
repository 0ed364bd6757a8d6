using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;

namespace Ingestion.Workers.Syncs;

/// <summary>
/// A JSON value's text, or the reason there is none. <see cref="JsonDocument"/> checks neither the UTF-8 inside a string
/// nor that a <c>\uD800</c>-style escape has its other half while parsing; <see cref="JsonElement.GetString"/> and
/// <see cref="JsonElement.GetRawText"/> find out when they transcode, and throw. Upstream data holds either now and then
/// (a Latin-1 byte in an export, a string cut between the halves of an emoji): that makes the record a reject, not the job
/// a failure.
/// </summary>
internal static class JsonText
{
    /// <summary>A string's value, unescaped; false with the reason when it is no valid text.</summary>
    public static bool TryGetString(JsonElement value, [NotNullWhen(true)] out string? text, [NotNullWhen(false)] out string? problem)
    {
        try
        {
            (text, problem) = (value.GetString()!, null);
            return true;
        }
        catch (InvalidOperationException e) when (value.ValueKind == JsonValueKind.String)
        {
            (text, problem) = (null, Describe(e));
            return false;
        }
    }

    /// <summary>A value's JSON as written (escapes kept); false with the reason when its bytes are not valid UTF-8.</summary>
    public static bool TryGetRawText(JsonElement value, [NotNullWhen(true)] out string? text, [NotNullWhen(false)] out string? problem)
    {
        try
        {
            (text, problem) = (value.GetRawText(), null);
            return true;
        }
        catch (InvalidOperationException e)
        {
            (text, problem) = (null, Describe(e));
            return false;
        }
    }

    private static string Describe(InvalidOperationException e) => e.InnerException is DecoderFallbackException
        ? "is not valid UTF-8"
        : "is not valid text: it holds half of a surrogate pair (an escape such as \\uD800 without its other half)";
}
