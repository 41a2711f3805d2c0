"""Reference chat tokenization by transformers (4.57.1): a Jinja ChatML
template equal to Qwen2-VL's (plus Qwen2-Audio's audio markers) with
{% generation %} around each assistant reply, rendered and tokenized by
PreTrainedTokenizerFast.apply_chat_template, for
tests/sdk/data/conversation_test.cc.

    chat_oracle.py TOKENIZER_JSON IN.json OUT.json
        IN: {"audio_markers": [start, pad, end] (special tokens of the
        tokenizer), "conversations": [messages with content strings or parts
        {"type": "text" | "image" | "audio", ...}]}; OUT: per conversation
        {"text", "ids", "assistant_mask"}.
"""
import json
import sys

from transformers import PreTrainedTokenizerFast

# transformers renders with trim_blocks: a newline right after a block tag is
# dropped, so those newlines are written as {{ '\n' }}.
TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}"
    "{% if message['role'] == 'assistant' %}{% generation %}{{ message['content'] }}<|im_end|>{% endgeneration %}"
    "{% else %}{{ message['content'] }}<|im_end|>{% endif %}{{ '\\n' }}"
    "{% else %}"
    "{% if message['role'] == 'assistant' %}{% generation %}"
    "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "<|im_end|>{% endgeneration %}{{ '\\n' }}"
    "{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'audio' %}AUDIO_START AUDIO_PAD AUDIO_END"
    "{% else %}{{ part['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n"
    "{% endif %}{% endif %}"
    "{% endfor %}"
)


def main():
    tokenizer_json, src, dst = sys.argv[1:4]
    tok = PreTrainedTokenizerFast(tokenizer_file=tokenizer_json)
    spec = json.load(open(src))
    start, pad, end = spec["audio_markers"]
    template = TEMPLATE.replace("AUDIO_START AUDIO_PAD AUDIO_END", start + pad + end)
    out = []
    for messages in spec["conversations"]:
        text = tok.apply_chat_template(messages, chat_template=template, tokenize=False)
        enc = tok.apply_chat_template(messages, chat_template=template, tokenize=True, return_dict=True,
                                      return_assistant_tokens_mask=True)
        out.append({"text": text, "ids": list(enc["input_ids"]), "assistant_mask": list(enc["assistant_masks"])})
    json.dump(out, open(dst, "w"))


if __name__ == "__main__":
    main()
