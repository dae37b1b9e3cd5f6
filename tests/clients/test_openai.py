"""The OpenAI Python SDK against Sieve: embeddings and chat completions (plain and streamed)."""
import math

import openai
import pytest


@pytest.fixture()
def client(base_url):
    return openai.OpenAI(base_url=base_url + "/v1", api_key="unused", max_retries=0)


def test_embeddings_float_and_base64(client):
    # The SDK asks for base64 by default and decodes it; float must give the same numbers.
    plain = client.embeddings.create(model="sieve", input=["first text", "second text"],
                                     encoding_format="float")
    assert [d.index for d in plain.data] == [0, 1]
    assert len(plain.data[0].embedding) == 32
    assert plain.usage.prompt_tokens > 0
    decoded = client.embeddings.create(model="sieve", input="first text")
    assert len(decoded.data) == 1
    for a, b in zip(decoded.data[0].embedding, plain.data[0].embedding):
        assert abs(a - b) < 1e-5
    norm = math.sqrt(sum(x * x for x in plain.data[1].embedding))
    assert abs(norm - 1.0) < 1e-4


def test_embeddings_dimensions(client):
    out = client.embeddings.create(model="sieve", input="lift and drag", dimensions=8)
    assert len(out.data[0].embedding) == 8


def test_unknown_model_is_a_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.embeddings.create(model="text-embedding-3-large", input="x")
    assert info.value.body["code"] == "model_not_found"


def test_empty_input_is_a_400(client):
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="sieve", input=[])


def test_chat_completion(client):
    out = client.chat.completions.create(
        model="sieve", messages=[{"role": "user", "content": "What does a cross-encoder read?"}])
    assert out.choices[0].message.role == "assistant"
    assert out.choices[0].finish_reason == "stop"
    assert out.choices[0].message.content
    extra = out.model_extra or {}
    assert extra.get("citations"), "citations come in an extra field"
    assert "path" in extra["citations"][0]


def test_chat_completion_stream(client):
    stream = client.chat.completions.create(
        model="sieve", stream=True,
        messages=[{"role": "user", "content": "How does reciprocal rank fusion work?"}])
    pieces, finish, citations = [], None, None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        choice = chunk.choices[0]
        if choice.delta.content:
            pieces.append(choice.delta.content)
        if choice.finish_reason:
            finish = choice.finish_reason
            citations = (chunk.model_extra or {}).get("citations")
    assert "".join(pieces)
    assert finish == "stop"
    assert citations
    plain = client.chat.completions.create(
        model="sieve", messages=[{"role": "user", "content": "How does reciprocal rank fusion work?"}])
    assert "".join(pieces) == plain.choices[0].message.content
