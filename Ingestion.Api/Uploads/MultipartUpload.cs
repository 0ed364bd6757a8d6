using Ingestion.Platform.Storage;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Ingestion.Api.Uploads;

public sealed class UploadFormException(string message) : Exception(message);

/// <summary>What a multipart upload form held: the stored file, its name, and the text fields.</summary>
public sealed record UploadForm(StoredObject Stored, string? FileName, IReadOnlyDictionary<string, string> Fields);

/// <summary>
/// Reads a <c>multipart/form-data</c> body section by section: the one <c>file</c> part is
/// streamed into S3 as it arrives, text fields (small, named in advance) are read and
/// checked as they come, so a bad field before the file stops the upload before it starts.
/// Anything unexpected is refused rather than ignored; if the form fails after the file
/// was stored, the file is deleted.
/// </summary>
public static class MultipartUpload
{
    private const int MaxFieldBytes = 4096;

    /// <param name="fields">The text fields the form may carry, each with its check (null when valid, else what is wrong).</param>
    public static Task<UploadForm> StoreAsync(HttpRequest request, UploadIntake intake, ObjectStore store, string key,
        string contentType, long maxBytes, IReadOnlyDictionary<string, Func<string, CancellationToken, Task<string?>>> fields,
        CancellationToken cancellationToken) =>
        StoreAsync(request, intake, store, (_, _) => key, contentType, maxBytes, fields, new HashSet<string>(), cancellationToken);

    /// <param name="keyFor">The file's key, from the fields read before it and the file's first bytes.</param>
    /// <param name="beforeFile">Fields the key depends on: refused when they come after the file.</param>
    public static async Task<UploadForm> StoreAsync(HttpRequest request, UploadIntake intake, ObjectStore store,
        Func<IReadOnlyDictionary<string, string>, byte[], string> keyFor, string contentType, long maxBytes,
        IReadOnlyDictionary<string, Func<string, CancellationToken, Task<string?>>> fields, IReadOnlySet<string> beforeFile,
        CancellationToken cancellationToken)
    {
        var boundary = HeaderUtilities.RemoveQuotes(MediaTypeHeaderValue.Parse(request.ContentType).Boundary).Value;
        if (string.IsNullOrEmpty(boundary))
        {
            throw new UploadFormException("The multipart/form-data content type has no boundary.");
        }

        var reader = new MultipartReader(boundary, request.Body) { BodyLengthLimit = null };
        StoredObject? stored = null;
        string? fileName = null;
        var values = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
            {
                var disposition = section.GetContentDispositionHeader();
                var name = disposition?.Name.Value;
                if (name == "file" && disposition is not null && disposition.IsFileDisposition())
                {
                    if (stored is not null)
                    {
                        throw new UploadFormException("The form has more than one 'file' part; send one file per upload.");
                    }

                    fileName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
                    stored = await intake.StoreAsync(section.Body, null, head => keyFor(values, head), contentType, maxBytes,
                        cancellationToken);
                }
                else if (name is not null && fields.TryGetValue(name, out var check))
                {
                    if (stored is not null && beforeFile.Contains(name))
                    {
                        throw new UploadFormException($"The form field '{name}' must come before the 'file' part: the file is stored by it.");
                    }

                    var value = await ReadFieldAsync(section, name, cancellationToken);
                    if (await check(value, cancellationToken) is { } problem)
                    {
                        throw new UploadFormException($"{name} {problem}");
                    }

                    values[name] = value;
                }
                else
                {
                    var expected = string.Join(", ", fields.Keys.Select(f => $"'{f}'"));
                    throw new UploadFormException(
                        $"Unexpected form part '{name}'; send a 'file' part{(fields.Count > 0 ? $" and, optionally, {expected}" : "")}.");
                }
            }
        }
        catch (Exception) when (stored is not null)
        {
            await store.DeleteAsync(stored.Key, CancellationToken.None);
            throw;
        }

        return stored is null
            ? throw new UploadFormException("The form has no 'file' part.")
            : new UploadForm(stored, fileName, values);
    }

    private static async Task<string> ReadFieldAsync(MultipartSection section, string name, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxFieldBytes + 1];
        var length = 0;
        int read;
        while ((read = await section.Body.ReadAsync(buffer.AsMemory(length), cancellationToken)) > 0)
        {
            length += read;
            if (length > MaxFieldBytes)
            {
                throw new UploadFormException($"The form field '{name}' is longer than {MaxFieldBytes} bytes.");
            }
        }

        return System.Text.Encoding.UTF8.GetString(buffer, 0, length).Trim();
    }
}
