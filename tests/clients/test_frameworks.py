"""LlamaIndex (TEI embeddings, Jina rerank) and LangChain (OpenAIEmbeddings) pointed at Sieve."""
from langchain_openai import OpenAIEmbeddings
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from llama_index.embeddings.text_embeddings_inference import TextEmbeddingsInference
from llama_index.postprocessor.jinaai_rerank import JinaRerank


def test_llamaindex_tei_embeddings(base_url):
    embed = TextEmbeddingsInference(model_name="tiny-bge", base_url=base_url, timeout=60)
    docs = embed.get_text_embedding_batch(["lift on a wing", "drag at high speed"])
    assert len(docs) == 2 and len(docs[0]) == 32
    query = embed.get_query_embedding("what is lift?")
    assert len(query) == 32


def test_llamaindex_jina_rerank(base_url):
    rerank = JinaRerank(base_url=base_url + "/v1", model="sieve", top_n=2, api_key="unused")
    nodes = [NodeWithScore(node=TextNode(text=t), score=0.0) for t in (
        "Paris is the capital of France.",
        "A cross-encoder reads the query and the passage together and scores the pair.",
        "Bananas are yellow.")]
    out = rerank.postprocess_nodes(nodes, QueryBundle("what reads the query and passage together?"))
    assert len(out) == 2
    assert out[0].score >= out[1].score
    assert all(0.0 <= n.score <= 1.0 for n in out)


def test_langchain_openai_embeddings(base_url):
    # Sieve takes text, not tiktoken ids: check_embedding_ctx_length=False sends the strings.
    embed = OpenAIEmbeddings(model="sieve", base_url=base_url + "/v1", api_key="unused",
                             check_embedding_ctx_length=False)
    docs = embed.embed_documents(["lift on a wing", "drag at high speed"])
    assert len(docs) == 2 and len(docs[0]) == 32
    assert len(embed.embed_query("what is lift?")) == 32
